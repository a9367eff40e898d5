"""What every bench script shares: wrk runs, server processes with CPU time by role, the test
models, request bodies for each protocol, OpenVINO's in-process rate."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psutil
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, ROOT)

from tests import modelgen  # noqa: E402

READY_PATH = "/v2/health/ready"


@dataclass
class Result:
    server: str
    concurrency: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: dict[str, float]  # server CPU microseconds per request, by process role


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
    url: str,
    body_file: str,
    concurrency: int,
    seconds: float,
    cpus: list[int] | None = None,
    header_length: int | None = None,
    new_connections: bool = False,
) -> tuple[float, float, float, int]:
    """wrk POSTing the body; ``header_length``: a KServe binary body's JSON part length;
    ``new_connections``: a connection per request (``Connection: close``)."""
    threads = min(2, concurrency)
    extra = {"HEADER_LENGTH": str(header_length)} if header_length is not None else {}
    if new_connections:
        extra["CONNECTION_CLOSE"] = "1"
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
        cmd, capture_output=True, text=True, env={**os.environ, "BODY_FILE": body_file, **extra}, check=True
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


def measure(proc: Proc, label: str, run: Callable[[int, float], tuple[float, float, float, int]],
            concurrencies: list[int], seconds: float) -> list[Result]:  # fmt: skip
    """One point at each concurrency: ``run(concurrency, seconds)`` gives (req/s, p50, p99,
    errors); the server's CPU time by role around it gives CPU microseconds per request."""
    results = []
    for c in concurrencies:
        before = proc.cpu_seconds()
        rate, p50, p99, errors = run(c, seconds)
        spent = proc.cpu_seconds()
        count = max(1.0, rate * seconds)
        cpu = {role: (t - before.get(role, 0.0)) / count * 1e6 for role, t in sorted(spent.items())}
        results.append(Result(label, c, rate, p50, p99, errors, cpu))
        per_request = ", ".join(f"{role} {us:.1f}" for role, us in cpu.items())
        print(
            f"  {label:20s} c={c:<3d} {rate:9.1f} req/s  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms"
            f"  errors {errors}  CPU us/request: {per_request}",
            flush=True,
        )
    return results


def ensure_h2load() -> None:
    if shutil.which("h2load"):
        return
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nghttp2-client"], check=False, capture_output=True)
    if not shutil.which("h2load"):
        sys.exit("h2load is needed (Debian: apt-get install nghttp2-client)")


def run_h2load(
    port: int, path: str, body_file: str, concurrency: int, seconds: float
) -> tuple[float, float, float, int]:
    """h2load POSTing one prepared gRPC frame: ``concurrency`` connections of one stream each (as
    wrk does; OVMS's default ``grpc.max_concurrent_streams`` is the core count, and h2load fails
    the streams a server refuses instead of queueing them), 2 client threads; p50/p99 from its
    per-request log. Failed RPCs come back as HTTP 200 with a grpc-status trailer, which h2load
    cannot see: callers check one call first."""
    log = os.path.join(OUT, "h2load.log")
    with contextlib.suppress(FileNotFoundError):
        os.remove(log)  # h2load appends to it
    cmd = ["h2load", f"-c{concurrency}", "-m1", f"-t{min(2, concurrency)}"]
    cmd += ["-D", str(int(seconds)), "-d", body_file, "--log-file", log]
    cmd += ["-H", "content-type: application/grpc", "-H", "te: trailers", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    assert m, out
    done, ok = int(m.group(1)), int(m.group(2))
    rate = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    assert rate, out
    times = []
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "200":
                times.append(int(parts[2]) / 1000)  # microseconds -> ms
    lat = np.array(times) if times else np.array([float("nan")])
    p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
    return float(rate.group(1)) * ok / max(1, done), p50, p99, done - ok


class Proc:
    def __init__(
        self,
        argv: list[str],
        port: int,
        ready_path: str,
        log: str,
        cpus: list[int] | None = None,
        root: str = ROOT,
    ) -> None:
        """``root``: the source tree the server runs from (another checkout: a before/after run)."""
        self.port = port
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        inherited = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": root + (os.pathsep + inherited if inherited else "")}
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=root, preexec_fn=pin)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{argv} exited; see {log}")
            try:
                if not ready_path:  # not HTTP (a gRPC server): accepting connections is enough
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return
                if requests.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code != 503:
                    return  # any answer but "not ready yet" (ovserve's /v2/health/ready during loads)
            except (requests.RequestException, OSError):
                pass
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
            module = module.removeprefix("ovserve.")  # older checkouts ran them without the prefix
            roles = {"ovserve": "supervisor", "frontend": "fronts", "frontend.grpc_front": "grpc fronts"}
            role = {**roles, "workers": "workers"}.get(module, "server")
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
    models = {"dummy": [1, 10], "cnn": [1, 3, 224, 224], "dyn": [1, 10], "mlp": [1, 1024]}
    if not os.path.exists(os.path.join(base, "dummy", "1", "model.xml")):
        modelgen.dummy(os.path.join(base, "dummy"))
    if not os.path.exists(os.path.join(base, "dyn", "1", "model.xml")):
        modelgen.dummy(os.path.join(base, "dyn"), batch=None)
    if not os.path.exists(os.path.join(base, "mlp", "1", "model.xml")):
        modelgen.mlp(os.path.join(base, "mlp"))
    if not os.path.exists(os.path.join(base, "cnn", "1", "model.xml")):
        modelgen.cnn(os.path.join(base, "cnn"))
    return {name: (os.path.join(base, name), shape) for name, shape in models.items()}


def body_for(name: str, shape: list[int]) -> str:
    """A row-format body as clients write it (json.dumps of .tolist(): float64 repr)."""
    path = os.path.join(OUT, f"{name}.json")
    x = _request_array(shape)
    with open(path, "w") as f:
        json.dump({"instances": x.tolist()}, f)
    return path


def _request_array(shape: list[int]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def kserve_bodies(name: str, input_name: str, output_name: str, shape: list[int]) -> tuple[str, tuple[str, int]]:
    """KServe v2 infer bodies of the same tensor as ``body_for``: JSON (``data`` nested as
    ``tolist`` writes it, which is what clients send), and the binary extension (JSON part, then
    the raw little-endian floats; the output asked for in binary too, as tritonclient does by
    default) with its JSON part's length."""
    x = _request_array(shape)
    tensor = {"name": input_name, "shape": shape, "datatype": "FP32"}
    json_path = os.path.join(OUT, f"{name}.v2.json")
    with open(json_path, "w") as f:
        json.dump({"inputs": [{**tensor, "data": x.tolist()}]}, f)
    binary_in = {**tensor, "parameters": {"binary_data_size": x.nbytes}}
    binary_out = {"name": output_name, "parameters": {"binary_data": True}}
    head = json.dumps({"inputs": [binary_in], "outputs": [binary_out]}).encode()
    binary_path = os.path.join(OUT, f"{name}.v2.bin")
    with open(binary_path, "wb") as f:
        f.write(head + x.tobytes())
    return json_path, (binary_path, len(head))


def ov_rate(model_dir: str, seconds: float, config: str = "") -> dict[str, float]:
    """OpenVINO's in-process rate; ``config``: its compile config as JSON (default: LATENCY hint)."""
    argv = [sys.executable, os.path.join(HERE, "ov_rate.py"), os.path.join(model_dir, "1", "model.xml"), str(seconds)]
    out = subprocess.run([*argv, *([config] if config else [])], capture_output=True, text=True, check=True).stdout
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
