"""Load benchmark: ovserve's :predict under wrk at several concurrencies, next to baselines
measured in the same run (these machines are noisy: only ratios from one run compare).

Baselines: (a) OpenVINO's in-process inference rate for the model (the ceiling); (b) Sanic
hello-world with the same number of front processes; (c) a naive one-process Sanic server that
decodes with orjson + numpy and calls OpenVINO inline.

    python bench/load.py                       # both models, c = 1, 8, 32
    python bench/load.py --models dummy --concurrency 32 --duration 10 --fronts 2 --workers 2
    python bench/load.py --models dyn --concurrency 64 --batching 64   # batched vs unbatched
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import psutil
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, ROOT)

from tests import modelgen  # noqa: E402
from tests.server_util import free_port  # noqa: E402


@dataclass
class Result:
    server: str
    concurrency: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    path = shutil.which("wrk")
    if not path:
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    return path


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_wrk(
    url: str, body_file: str, concurrency: int, seconds: float, cpus: list[int] | None = None
) -> tuple[float, float, float, int]:
    threads = min(2, concurrency)
    pin = ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []
    cmd = [
        *pin,
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{int(seconds)}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        os.path.join(HERE, "post.lua"),
        url,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "BODY_FILE": body_file}, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return rate, p50, p99, errors


class Proc:
    def __init__(self, argv: list[str], port: int, ready_path: str, log: str, cpus: list[int] | None = None) -> None:
        self.port = port
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        inherited = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": ROOT + (os.pathsep + inherited if inherited else "")}
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, preexec_fn=pin)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{argv} exited; see {log}")
            try:
                requests.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        sys.exit(f"{argv} did not start; see {log}")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the server's processes, by role (fronts, workers, ...)."""
        totals: dict[str, float] = {}
        root = psutil.Process(self.proc.pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                argv, times = p.cmdline(), p.cpu_times()
            except psutil.Error:
                continue
            module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
            role = {"ovserve": "supervisor", "frontend": "fronts", "workers": "workers"}.get(module, "server")
            totals[role] = totals.get(role, 0.0) + times.user + times.system
        return totals

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def ovserve_argv(model: str, model_dir: str, port: int, fronts: int | None = None) -> list[str]:
    """The ovserve command line every bench script starts (loopback, polling off)."""
    argv = [
        sys.executable,
        "-m",
        "ovserve",
        "--model_name",
        model,
        "--model_path",
        model_dir,
        "--rest_port",
        str(port),
        "--rest_bind_address",
        "127.0.0.1",
        "--file_system_poll_wait_seconds",
        "0",
    ]
    return argv + (["--front_processes", str(fronts)] if fronts else [])


def make_models() -> dict[str, tuple[str, list[int]]]:
    base = os.path.join(OUT, "models")
    models = {"dummy": [1, 10], "cnn": [1, 3, 224, 224], "dyn": [1, 10]}
    if not os.path.exists(os.path.join(base, "dummy", "1", "model.xml")):
        modelgen.dummy(os.path.join(base, "dummy"))
    if not os.path.exists(os.path.join(base, "dyn", "1", "model.xml")):
        modelgen.dummy(os.path.join(base, "dyn"), batch=None)
    if not os.path.exists(os.path.join(base, "cnn", "1", "model.xml")):
        modelgen.cnn(os.path.join(base, "cnn"))
    return {name: (os.path.join(base, name), shape) for name, shape in models.items()}


def body_for(name: str, shape: list[int]) -> str:
    """A row-format body as clients write it (json.dumps of .tolist(): float64 repr)."""
    path = os.path.join(OUT, f"{name}.json")
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with open(path, "w") as f:
        json.dump({"instances": x.tolist()}, f)
    return path


def ov_rate(model_dir: str, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "ov_rate.py"), os.path.join(model_dir, "1", "model.xml"), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="dummy,cnn")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--fronts", type=int, default=None, help="ovserve --front_processes")
    p.add_argument("--workers", type=int, default=None, help="ovserve --worker_processes")
    p.add_argument("--baselines", default="ov,hello,naive", help="which baselines to run (comma list, or none)")
    p.add_argument("--extra", default="", help="extra ovserve flags, e.g. '--shm_arena_mb 64'")
    p.add_argument(
        "--batching",
        type=int,
        default=0,
        help="also run ovserve with --max_batch N (row 'ovserve+batch'; ratio column x unbatched)",
    )
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    ensure_wrk()
    cpus = len(os.sched_getaffinity(0))
    fronts = a.fronts or min(16, max(2, cpus // 2))
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    baselines = set(a.baselines.split(",")) - {"none", ""}
    models = make_models()
    print(
        f"# machine: {cpus} CPUs ({cpu_model()}); ovserve fronts={fronts} workers={a.workers or max(1, cpus // 2)}; "
        f"wrk {a.duration:.0f}s per point",
        flush=True,
    )

    for name in a.models.split(","):
        model_dir, shape = models[name]
        body = body_for(name, shape)
        results: list[Result] = []
        ceiling = ov_rate(model_dir, min(a.duration, 5)) if "ov" in baselines else None

        servers: list[tuple[str, list[str], str]] = []
        batch_stats: list[str] = []
        port = free_port()
        argv = [*ovserve_argv(name, model_dir, port, fronts), *a.extra.split()]
        if a.workers:
            argv += ["--worker_processes", str(a.workers)]
        servers.append(("ovserve", argv, "/v1/config"))
        if a.batching:
            bport = free_port()
            bargv = [*argv, "--max_batch", str(a.batching), "--stats_interval_seconds", "2"]
            bargv[bargv.index("--rest_port") + 1] = str(bport)
            servers.append(("ovserve+batch", bargv, "/v1/config"))
        if "naive" in baselines:
            nport = free_port()
            servers.append(
                (
                    "naive",
                    [
                        sys.executable,
                        os.path.join(HERE, "naive_server.py"),
                        str(nport),
                        os.path.join(model_dir, "1", "model.xml"),
                    ],
                    "/",
                )
            )
        if "hello" in baselines:
            hport = free_port()
            servers.append(
                ("hello", [sys.executable, os.path.join(HERE, "hello_server.py"), str(hport), str(fronts)], "/")
            )
        for label, cmd, ready in servers:
            sport = int(cmd[cmd.index("--rest_port") + 1]) if label.startswith("ovserve") else int(cmd[2])
            proc = Proc(cmd, sport, ready, os.path.join(OUT, f"{label}-{name}.log"))
            try:
                url = f"http://127.0.0.1:{sport}/v1/models/{name}:predict"
                with open(body, "rb") as f:
                    check = requests.post(url, data=f.read(), timeout=60)
                if check.status_code != 200:
                    sys.exit(f"{label}: {check.status_code} {check.text[:200]}")
                for c in concurrencies:
                    before = proc.cpu_seconds()
                    rate, p50, p99, errors = run_wrk(url, body, c, a.duration)
                    spent = proc.cpu_seconds()
                    count = max(1.0, rate * a.duration)
                    per_request = ", ".join(
                        f"{role} {(t - before.get(role, 0.0)) / count * 1e6:.1f}" for role, t in sorted(spent.items())
                    )
                    results.append(Result(label, c, rate, p50, p99, errors))
                    print(
                        f"  {label:8s} c={c:<3d} {rate:9.1f} req/s  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms"
                        f"  errors {errors}  CPU us/request: {per_request}",
                        flush=True,
                    )
            finally:
                proc.stop()
            if label == "ovserve+batch":
                batch_stats.append(last_stats_line(os.path.join(OUT, f"{label}-{name}.log")))
        print_table(name, shape, results, ceiling)
        for line in batch_stats:
            print(f"ovserve+batch worker stats (last interval): {line}")


def last_stats_line(log_path: str) -> str:
    """The worker's last batching statistics line (achieved batch, queue vs compute time)."""
    with open(log_path, errors="replace") as f:
        lines = [line.split("][INFO] ", 1)[-1].strip() for line in f if "mean batch" in line]
    return lines[-1] if lines else "none logged"


def print_table(name: str, shape: list[int], results: list[Result], ceiling: dict[str, float] | None) -> None:
    print(f"\n## {name} {shape}")
    if ceiling:
        print(
            f"OpenVINO in-process (sync loop, LATENCY hint): {ceiling['rate']:.1f} inf/s, "
            f"p50 {ceiling['p50_ms']:.3f} ms, p99 {ceiling['p99_ms']:.3f} ms"
        )
    by = {(r.server, r.concurrency): r for r in results}
    print("| server | c | req/s | p50 ms | p99 ms | errors | x naive | x hello | x OpenVINO | x unbatched (p99) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        naive = by.get(("naive", r.concurrency))
        hello = by.get(("hello", r.concurrency))
        plain = by.get(("ovserve", r.concurrency)) if r.server == "ovserve+batch" else None
        cols = [
            f"{r.rate / naive.rate:.2f}" if naive else "-",
            f"{r.rate / hello.rate:.2f}" if hello else "-",
            f"{r.rate / ceiling['rate']:.2f}" if ceiling else "-",
            f"{r.rate / plain.rate:.2f} ({r.p99_ms / plain.p99_ms:.2f})" if plain else "-",
        ]
        print(
            f"| {r.server} | {r.concurrency} | {r.rate:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | "
            + " | ".join(cols)
            + " |"
        )
    print(flush=True)


if __name__ == "__main__":
    main()
