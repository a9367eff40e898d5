"""Start-up and memory: time from start to READY=1 (systemd's notify protocol, what a unit waits
for) and RSS per process by role, for the tiny model and the CNN; the CNN restarted with
``--cache_dir`` (OpenVINO's model cache) cold and warm; a front's RSS over a long wrk soak.

    python bench/startup.py                      # both models, 3 starts each, 200,000-request soak
    python bench/startup.py --starts 1 --soak 0  # quick

Needs the dev extras and wrk (installed with apt when missing).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import OUT, ROOT, body_for, ensure_wrk, make_models, ovserve_argv, run_wrk
from tests.server_util import free_port

ROLES = {"ovserve": "supervisor", "ovserve.frontend": "front", "ovserve.workers": "worker"}


def start_until_ready(argv: list[str], log: str) -> tuple[subprocess.Popen, float]:
    """Start the server with a notify socket; seconds until it says READY=1."""
    folder = tempfile.mkdtemp(prefix="ovserve-notify-")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(180)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=open(log, "wb"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        env={**os.environ, "NOTIFY_SOCKET": path, "PYTHONPATH": ROOT},
        cwd=ROOT,
    )
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
    finally:
        sock.close()
        shutil.rmtree(folder, ignore_errors=True)
    return proc, time.monotonic() - started


def rss_by_role(pid: int) -> dict[str, list[float]]:
    root = psutil.Process(pid)
    out: dict[str, list[float]] = {}
    for p in [root, *root.children()]:
        argv = p.cmdline()
        module = argv[argv.index("-m") + 1] if "-m" in argv else ""
        out.setdefault(ROLES.get(module, module), []).append(p.memory_info().rss / 2**20)
    return out


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(60)


def startup_rows(name: str, model_dir: str, starts: int) -> list[str]:
    rows = []
    times, rss = [], {}
    for i in range(starts):
        log = os.path.join(OUT, f"start-{name}.log")
        proc, took = start_until_ready(ovserve_argv(name, model_dir, free_port()), log)
        times.append(took)
        if i == 0:
            rss = rss_by_role(proc.pid)
        stop(proc)
    memory = "; ".join(f"{role} {', '.join(f'{v:.0f}' for v in values)}" for role, values in sorted(rss.items()))
    rows.append(f"| {name} | {statistics.median(times):.2f} (min {min(times):.2f}, {starts} starts) | {memory} |")
    return rows


def cache_rows(model_dir: str, starts: int) -> list[str]:
    """Start to READY=1, and the worker's own load time of the model (its log line), with an
    empty cache and then with the cache that start wrote."""
    cache = tempfile.mkdtemp(prefix="ovserve-cache-")
    cold: list[tuple[float, float]] = []
    warm: list[tuple[float, float]] = []
    log = os.path.join(OUT, "start-cnn-cache.log")
    try:
        for _ in range(starts):
            shutil.rmtree(cache)
            os.makedirs(cache)
            for into in (cold, warm):
                argv = [*ovserve_argv("cnn", model_dir, free_port()), "--cache_dir", cache]
                proc, took = start_until_ready(argv, log)
                stop(proc)
                with open(log) as f:
                    load_ms = float(re.search(r"loaded cnn version 1 in (\d+) ms", f.read()).group(1))  # type: ignore[union-attr]
                into.append((took, load_ms))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    rows = []
    for label, runs in (("empty", cold), ("warm", warm)):
        took, load = statistics.median(t for t, _ in runs), statistics.median(m for _, m in runs)
        ratio = "" if label == "empty" else f" ({took / statistics.median(t for t, _ in cold):.2f}x)"
        load_ratio = "" if label == "empty" else f" ({load / statistics.median(m for _, m in cold):.2f}x)"
        rows.append(f"| cnn, `--cache_dir` {label} | {took:.2f}{ratio} | model load {load:.0f} ms{load_ratio} |")
    return rows


def soak(model_dir: str, requests_wanted: int) -> str:
    ensure_wrk()
    port = free_port()
    proc, _ = start_until_ready(ovserve_argv("dummy", model_dir, port), os.path.join(OUT, "soak-dummy.log"))
    try:
        url = f"http://127.0.0.1:{port}/v1/models/dummy:predict"
        body = body_for("dummy", [1, 10])
        rate = run_wrk(url, body, 32, 5)[0]  # warm-up; gives the rate to size the soak by
        before = rss_by_role(proc.pid)["front"]
        done, samples = 0, []
        while done < requests_wanted:
            seconds = max(5, min(60, (requests_wanted - done) / max(rate, 1.0)))
            rate = run_wrk(url, body, 32, seconds)[0]
            done += int(rate * int(seconds))
            samples.append(max(rss_by_role(proc.pid)["front"]))
        after = rss_by_role(proc.pid)["front"]
    finally:
        stop(proc)
    fmt = ", ".join
    return (
        f"front RSS over {done:,} requests (wrk c=32, tiny model, after 5 s of warm-up): "
        f"{fmt(f'{v:.1f}' for v in before)} -> {fmt(f'{v:.1f}' for v in after)} MiB "
        f"(largest front at each sample: {fmt(f'{v:.1f}' for v in samples)})"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--soak", type=int, default=200000, help="requests in the RSS soak (0: none)")
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    models = make_models()
    rows = ["| server | start to READY=1, s (median) | RSS after start, MiB, by process |", "|---|---|---|"]
    for name in ("dummy", "cnn"):
        rows += startup_rows(name, models[name][0], a.starts)
    rows += cache_rows(models["cnn"][0], a.starts)
    print("\n".join(rows), flush=True)
    if a.soak:
        print(soak(models["dummy"][0], a.soak))
    return 0


if __name__ == "__main__":
    sys.exit(main())
