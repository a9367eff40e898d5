"""Load benchmark: ovserve under wrk at several concurrencies, over TFS REST (`:predict`, row
JSON), KServe v2 JSON and KServe v2 binary, next to baselines measured in the same run (these
machines are noisy: only ratios from one run compare). Every point shows the server's CPU
microseconds per request by process role.

Baselines: (a) OpenVINO's in-process inference rate for the model (the ceiling); (b) Sanic
hello-world with the same number of front processes; (c) a naive one-process Sanic server that
decodes with orjson + numpy and calls OpenVINO inline; optionally (d) another checkout of
ovserve (``--before DIR``, TFS points) for a before/after ratio of a change.

    python bench/load.py                       # both models, c = 1, 8, 32, all protocols
    python bench/load.py --models dummy --concurrency 32 --duration 10 --protocols tfs
    python bench/load.py --models dummy --concurrency 32 --before /path/to/older/checkout
    python bench/load.py --models dyn --concurrency 64 --batching 64   # batched vs unbatched
    python bench/load.py --models dummy --concurrency 32 --protocols tfs --metrics   # metrics on vs off

Needs the dev extras (``pip install -e '.[dev]'``) and wrk (installed with apt when missing).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from dataclasses import dataclass

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ovserve.shared.metrics_layout import MODEL_FAMILIES

from bench.harness import (
    HERE,
    OUT,
    READY_PATH,
    ROOT,
    Proc,
    Result,
    body_for,
    cpu_model,
    ensure_wrk,
    kserve_bodies,
    make_models,
    measure,
    ov_rate,
    ovserve_argv,
    run_wrk,
)
from tests.server_util import free_port

METRIC_FAMILIES = [f.name for f in MODEL_FAMILIES]
TENSOR_NAMES = {"dummy": ("b", "a"), "dyn": ("b", "a"), "cnn": ("x", "probs"), "mlp": ("x", "y")}  # (input, output)


@dataclass
class Point:
    label: str
    path: str
    body: str
    header_length: int | None = None  # KServe binary extension


@dataclass
class ServerRun:
    label: str
    argv: list[str]
    port: int
    ready: str
    points: list[Point]
    root: str = ROOT


def ovserve_points(label: str, name: str, tfs: str, v2: tuple[str, tuple[str, int]] | None) -> list[Point]:
    points = [Point(label, f"/v1/models/{name}:predict", tfs)]
    if v2 is not None:
        json_body, (binary_body, header_length) = v2
        points.append(Point(f"{label} v2 json", f"/v2/models/{name}/infer", json_body))
        points.append(Point(f"{label} v2 bin", f"/v2/models/{name}/infer", binary_body, header_length))
    return points


def plan_servers(a: argparse.Namespace, name: str, model_dir: str, fronts: int) -> list[ServerRun]:
    shape = make_models()[name][1]
    tfs = body_for(name, shape)
    v2 = kserve_bodies(name, *TENSOR_NAMES[name], shape) if "v2" in a.protocols else None
    port = free_port()
    argv = [*ovserve_argv(name, model_dir, port, fronts), *a.extra.split()]
    if a.workers:
        argv += ["--worker_processes", str(a.workers)]
    runs = [ServerRun("ovserve", argv, port, READY_PATH, ovserve_points("ovserve", name, tfs, v2))]
    if a.before:
        bport = free_port()
        bargv = [*argv]
        bargv[bargv.index("--rest_port") + 1] = str(bport)
        runs.append(
            ServerRun("before", bargv, bport, "/v1/config", ovserve_points("before", name, tfs, None), a.before)
        )
    variants = []
    if a.batching:
        variants.append(("ovserve+batch", ["--max_batch", str(a.batching), "--stats_interval_seconds", "2"]))
    if a.metrics:
        variants.append(("ovserve+metrics", ["--metrics_enable", "--metrics_list", ",".join(METRIC_FAMILIES)]))
    for label, flags in variants:  # the same server with a feature on: ratio column "x plain"
        bport = free_port()
        bargv = [*argv, *flags]
        bargv[bargv.index("--rest_port") + 1] = str(bport)
        runs.append(ServerRun(label, bargv, bport, READY_PATH, ovserve_points(label, name, tfs, v2)))
    predict = f"/v1/models/{name}:predict"
    if "naive" in a.baselines:
        for variant in ["compiled", "request"] if a.naive_variants else ["compiled"]:
            nport = free_port()
            naive = [
                sys.executable,
                os.path.join(HERE, "naive_server.py"),
                str(nport),
                os.path.join(model_dir, "1", "model.xml"),
                variant,
            ]
            label = "naive" if variant == "compiled" else f"naive {variant}"
            runs.append(ServerRun(label, naive, nport, "/", [Point(label, predict, tfs)]))
    if "hello" in a.baselines:
        hport = free_port()
        hello = [sys.executable, os.path.join(HERE, "hello_server.py"), str(hport), str(fronts)]
        runs.append(ServerRun("hello", hello, hport, "/", [Point("hello", predict, tfs)]))
    return runs


def measure_run(run: ServerRun, name: str, concurrencies: list[int], seconds: float) -> list[Result]:
    results = []
    proc = Proc(run.argv, run.port, run.ready, os.path.join(OUT, f"{run.label}-{name}.log"), root=run.root)
    try:
        for point in run.points:
            url = f"http://127.0.0.1:{run.port}{point.path}"
            headers = {"Inference-Header-Content-Length": str(point.header_length)} if point.header_length else {}
            with open(point.body, "rb") as f:
                check = requests.post(url, data=f.read(), headers=headers, timeout=60)
            if check.status_code != 200:
                sys.exit(f"{point.label}: {check.status_code} {check.text[:200]}")
            wrk = functools.partial(run_wrk, url, point.body, header_length=point.header_length)
            results += measure(proc, point.label, wrk, concurrencies, seconds)
    finally:
        proc.stop()
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="dummy,cnn")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--fronts", type=int, default=None, help="ovserve --front_processes")
    p.add_argument("--workers", type=int, default=None, help="ovserve --worker_processes")
    p.add_argument("--protocols", default="tfs,v2", help="tfs (always) and v2 (KServe JSON and binary points)")
    p.add_argument("--baselines", default="ov,hello,naive", help="which baselines to run (comma list, or none)")
    p.add_argument("--before", default="", help="another ovserve checkout to run as 'before' (TFS points)")
    p.add_argument("--before-first", action="store_true", help="measure the --before tree first (order effects)")
    p.add_argument("--ov_config", default="", help="OpenVINO config of the in-process baseline (JSON)")
    p.add_argument("--extra", default="", help="extra ovserve flags, e.g. '--shm_arena_mb 64'")
    p.add_argument(
        "--batching",
        type=int,
        default=0,
        help="also run ovserve with --max_batch N (rows 'ovserve+batch'; ratio column x plain)",
    )
    p.add_argument("--naive_variants", action="store_true", help="also run the naive server's other variant")
    p.add_argument(
        "--metrics",
        action="store_true",
        help="also run ovserve with every metric family on (rows 'ovserve+metrics'; ratio column x plain)",
    )
    a = p.parse_args()
    a.protocols = set(a.protocols.split(","))
    a.baselines = set(a.baselines.split(",")) - {"none", ""}
    os.makedirs(OUT, exist_ok=True)
    ensure_wrk()
    cpus = len(os.sched_getaffinity(0))
    fronts = a.fronts or min(16, max(2, cpus // 2))
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    models = make_models()
    print(
        f"# machine: {cpus} CPUs ({cpu_model()}); ovserve fronts={fronts} workers={a.workers or max(1, cpus // 2)}; "
        f"wrk {a.duration:.0f}s per point",
        flush=True,
    )
    for name in a.models.split(","):
        model_dir, shape = models[name]
        ceiling = ov_rate(model_dir, min(a.duration, 5), a.ov_config) if "ov" in a.baselines else None
        results: list[Result] = []
        batch_logs = []
        for run in plan_servers(a, name, model_dir, fronts):
            results += measure_run(run, name, concurrencies, a.duration)
            if run.label == "ovserve+batch":
                batch_logs.append(last_stats_line(os.path.join(OUT, f"{run.label}-{name}.log")))
        print_table(name, shape, results, ceiling)
        for line in batch_logs:
            print(f"ovserve+batch worker stats (last interval): {line}")


def last_stats_line(log_path: str) -> str:
    """The worker's last batching statistics line (achieved batch, queue vs compute time)."""
    with open(log_path, errors="replace") as f:
        lines = [line.split("][INFO] ", 1)[-1].strip() for line in f if "mean batch" in line]
    return lines[-1] if lines else "none logged"


def _ratio(r: Result, other: Result | None, p99: bool = False) -> str:
    if other is None:
        return "-"
    return f"{r.rate / other.rate:.2f}" + (f" ({r.p99_ms / other.p99_ms:.2f})" if p99 else "")


def print_table(
    name: str, shape: list[int], results: list[Result], ceiling: dict[str, float] | None, hello: str = "hello"
) -> None:
    print(f"\n## {name} {shape}")
    if ceiling:
        print(
            f"OpenVINO in-process (sync loop, LATENCY hint): {ceiling['rate']:.1f} inf/s, "
            f"p50 {ceiling['p50_ms']:.3f} ms, p99 {ceiling['p99_ms']:.3f} ms"
        )
    by = {(r.server, r.concurrency): r for r in results}
    print(
        "| server | c | req/s | p50 ms | p99 ms | errors | server CPU us/req by role | x naive | x hello | x OpenVINO "
        "| x before (p99) | x plain ovserve (p99) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r.concurrency
        before = by.get(("before", c)) if r.server == "ovserve" else None
        variant, _, point = r.server.partition(" ")  # e.g. "ovserve+metrics", "v2 json"
        plain = by.get((" ".join(["ovserve", point]).strip(), c)) if variant.startswith("ovserve+") else None
        cpu = ", ".join(f"{role} {us:.0f}" for role, us in r.cpu_us.items())
        cols = [
            _ratio(r, by.get(("naive", c))),
            _ratio(r, by.get((hello, c))),
            f"{r.rate / ceiling['rate']:.2f}" if ceiling else "-",
            _ratio(r, before, p99=True),
            _ratio(r, plain, p99=True),
        ]
        print(
            f"| {r.server} | {c} | {r.rate:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {cpu} | "
            + " | ".join(cols)
            + " |"
        )
    print(flush=True)


if __name__ == "__main__":
    main()
