"""What metrics cost: ovserve with every metric family on against the same server with metrics
off, both running at once and measured in alternation (off, on, on, off per round) so that the
machine's drift falls on both alike; the tiny model, TFS REST, wrk at c=32 by default. Each row
shows req/s, p50/p99 and the server CPU microseconds per request by role; the last line the
median on/off ratios. Prometheus scrapes ``/metrics`` of the metrics server once per second
meanwhile (``--scrape``), as it would in production.

    python bench/metrics_cost.py                 # 4 rounds of 6 s per server
    python bench/metrics_cost.py --rounds 6 --duration 8 --concurrency 32

Needs the dev extras (``pip install -e '.[dev]'``) and wrk (installed with apt when missing).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import threading

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ovserve.shared.metrics_layout import MODEL_FAMILIES

from bench.harness import (
    OUT,
    READY_PATH,
    Proc,
    Result,
    body_for,
    cpu_model,
    ensure_wrk,
    make_models,
    measure,
    ovserve_argv,
    run_wrk,
)
from tests.server_util import free_port

ALL_FAMILIES = ",".join(f.name for f in MODEL_FAMILIES)


def scraper(url: str, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        with contextlib.suppress(requests.RequestException):
            requests.get(url + "/metrics", timeout=5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="dummy")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--no-scrape", dest="scrape", action="store_false", help="do not scrape /metrics meanwhile")
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    ensure_wrk()
    model_dir, shape = make_models()[a.model]
    body = body_for(a.model, shape)
    servers: dict[str, Proc] = {}
    try:
        for label, flags in (("off", []), ("on", ["--metrics_enable", "--metrics_list", ALL_FAMILIES])):
            port = free_port()
            argv = [*ovserve_argv(a.model, model_dir, port), *flags]
            servers[label] = Proc(argv, port, READY_PATH, os.path.join(OUT, f"metrics-{label}.log"))
        stop = threading.Event()
        if a.scrape:
            url = f"http://127.0.0.1:{servers['on'].port}"
            threading.Thread(target=scraper, args=(url, stop), daemon=True).start()
        print(f"# machine: {len(os.sched_getaffinity(0))} CPUs ({cpu_model()}); {a.model} {shape}, c={a.concurrency}")
        results: dict[str, list[Result]] = {"off": [], "on": []}
        for _ in range(a.rounds):
            for label in ("off", "on", "on", "off"):
                proc = servers[label]
                url = f"http://127.0.0.1:{proc.port}/v1/models/{a.model}:predict"

                def wrk(c: int, seconds: float, url: str = url) -> tuple[float, float, float, int]:
                    return run_wrk(url, body, c, seconds)

                results[label] += measure(proc, f"metrics {label}", wrk, [a.concurrency], a.duration)
        stop.set()
    finally:
        for proc in servers.values():
            proc.stop()
    print("\n| metrics | req/s (median) | p50 ms | p99 ms | server CPU us/req by role (median) |")
    print("|---|---|---|---|---|")
    medians = {}
    for label, rows in results.items():
        rate = statistics.median(r.rate for r in rows)
        cpu = {role: statistics.median(r.cpu_us[role] for r in rows) for role in rows[0].cpu_us}
        medians[label] = (rate, cpu)
        p50 = statistics.median(r.p50_ms for r in rows)
        p99 = statistics.median(r.p99_ms for r in rows)
        roles = ", ".join(f"{role} {us:.1f}" for role, us in cpu.items())
        print(f"| {label} | {rate:.1f} | {p50:.2f} | {p99:.2f} | {roles} |")
    (on_rate, on_cpu), (off_rate, off_cpu) = medians["on"], medians["off"]
    total_on, total_off = sum(on_cpu.values()), sum(off_cpu.values())
    print(f"\nthroughput on/off: {on_rate / off_rate:.3f}; server CPU per request on/off: {total_on / total_off:.3f}")


if __name__ == "__main__":
    main()
