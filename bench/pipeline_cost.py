"""What a DAG pipeline costs: a chain of two nodes of the tiny model against one request to the
model and against the two sequential requests a client would send instead (the same server,
the same run; wrk POSTs TFS REST row JSON). Server CPU per request by role for each.

    python bench/pipeline_cost.py                  # c = 1 and 32, 8 s per point
    python bench/pipeline_cost.py --concurrency 32 --duration 5
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import OUT, READY_PATH, Proc, body_for, ensure_wrk, make_models, measure, run_wrk
from tests.pipeline_util import node, pipeline
from tests.server_util import free_port


def chain_config(model_dir: str) -> str:
    doc = {
        "model_config_list": [{"config": {"name": "dummy", "base_path": model_dir}}],
        "pipeline_config_list": [
            pipeline(
                "chain",
                ["b"],
                [
                    node("first", "dummy", {"b": ("request", "b")}, {"x": "a"}),
                    node("second", "dummy", {"b": ("first", "x")}, {"y": "a"}),
                ],
                {"a": ("second", "y")},
            )
        ],
    }
    path = os.path.join(tempfile.mkdtemp(prefix="ovserve-chain-"), "config.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", default="1,32")
    p.add_argument("--duration", type=float, default=8)
    a = p.parse_args()
    ensure_wrk()
    os.makedirs(OUT, exist_ok=True)
    model_dir = make_models()["dummy"][0]
    body = body_for("dummy", [1, 10])
    port = free_port()
    argv = [sys.executable, "-m", "ovserve", "--config_path", chain_config(model_dir), "--rest_port", str(port)]
    argv += ["--rest_bind_address", "127.0.0.1", "--file_system_poll_wait_seconds", "0"]
    proc = Proc(argv, port, READY_PATH, os.path.join(OUT, "pipeline-cost.log"))
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    try:
        rows = {}
        for label, path in (("one request", "dummy"), ("chain of two", "chain")):
            url = f"http://127.0.0.1:{port}/v1/models/{path}:predict"
            wrk = functools.partial(run_wrk, url, body)
            rows[label] = measure(proc, label, wrk, concurrencies, a.duration)
    finally:
        proc.stop()
    print("\n| point | c | req/s | p50 ms | p99 ms | server CPU us/req by role | CPU x one request |")
    print("|---|---|---|---|---|---|---|")
    for i, c in enumerate(concurrencies):
        one, chain = rows["one request"][i], rows["chain of two"][i]
        base = sum(one.cpu_us.values())
        for label, r, cpu in (
            ("one request", one, base),
            ("two sequential requests", None, 2 * base),
            ("chain of two nodes", chain, sum(chain.cpu_us.values())),
        ):
            if r is None:  # what a client pays for two round trips: twice one request, twice its latency
                print(f"| {label} | {c} | {one.rate / 2:.0f} | {2 * one.p50_ms:.2f} | {2 * one.p99_ms:.2f} | "
                      f"{cpu:.0f} | {cpu / base:.2f} |")  # fmt: skip
                continue
            roles = ", ".join(f"{k} {v:.0f}" for k, v in r.cpu_us.items())
            print(f"| {label} | {c} | {r.rate:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {roles} | {cpu / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
