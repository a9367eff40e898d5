"""Start the real ``ovserve`` as a subprocess on a free loopback port, for integration tests."""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_json(path: str, doc: object) -> None:
    """Write a config file the way an orchestrator should: whole, then renamed into place (a
    poll never reads half of it)."""
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(path + ".tmp", path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ok(
    url: str,
    timeout: float,
    body: Any = None,
    proc: subprocess.Popen | None = None,
    log_path: str = "",
    **tls: Any,
) -> requests.Response:
    """The first 200 answer of ``url`` (GET, or POST of ``body`` as JSON), polled until
    ``timeout``; fails early when ``proc`` (the server being waited for) has exited, quoting
    its log. ``tls``: requests' ``verify``/``cert`` for an HTTPS server."""
    deadline = time.monotonic() + timeout

    def log() -> str:
        return open(log_path, errors="replace").read() if log_path else ""

    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log()}")
        try:
            r = requests.get(url, timeout=5, **tls) if body is None else requests.post(url, json=body, timeout=5, **tls)
            if r.status_code == 200:
                return r
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 in {timeout}s:\n{log()}")
        time.sleep(0.1)


SERVER_READY = "/inference.GRPCInferenceService/ServerReady"


def wait_grpc_ready(address: str, timeout: float, proc: subprocess.Popen) -> None:
    """KServe gRPC ServerReady until it says ready (a gRPC-only server has no REST probe)."""
    import grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        ready = channel.unary_unary(SERVER_READY)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if ready(b"", timeout=2) == b"\x08\x01":  # ServerReadyResponse{ready: true}
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{address} was not ready in {timeout}s")
            time.sleep(0.1)


class Server:
    def __init__(
        self,
        args: list[str],
        log_path: str,
        extra_env: dict[str, str] | None = None,
        grpc: bool = False,
        port: int | None = None,
        wrapper: list[str] | None = None,
        rest: bool = True,
        tls_ca: str = "",
        tls_client: tuple[str, str] | None = None,
    ) -> None:
        """``wrapper``: a command line the server's own is appended to (``unshare`` with a
        private /dev/shm, say); it must exec the server, so that it keeps the pid. ``rest``
        False: the gRPC port only, as OVMS's quickstart starts it. ``tls_ca`` (and ``tls_client``,
        a certificate and its key): the REST port serves HTTPS; readiness is asked over it."""
        self.tls: dict[str, Any] = {"verify": tls_ca, "cert": tls_client} if tls_ca else {}
        self.port = port or free_port() if rest else 0
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_port = free_port() if grpc or not rest else 0
        if self.grpc_port:
            args = [*args, "--port", str(self.grpc_port), "--grpc_bind_address", "127.0.0.1"]
        self.log_path = log_path
        env = dict(os.environ)
        env.update(extra_env or {})
        env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "ovserve"]
        if rest:
            command += ["--rest_port", str(self.port), "--rest_bind_address", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [*(wrapper or []), *command, *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        try:
            if self.port and self.tls:
                url = self.url.replace("http://", "https://") + "/v2/health/ready"
                wait_ok(url, timeout, proc=self.proc, **self.tls)
            elif self.port:
                wait_ok(self.url + "/v2/health/ready", timeout, proc=self.proc)
            else:
                wait_grpc_ready(f"127.0.0.1:{self.grpc_port}", timeout, self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.read_log()}") from None

    def read_log(self) -> str:
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def leftovers(self) -> list[str]:
        pid = self.proc.pid
        return glob.glob(f"/dev/shm/ovserve-{pid}-*") + glob.glob(os.path.join("/tmp", f"ovserve-{pid}"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def impatient_clients(call: Callable[[], object], count: int, threads: int = 16) -> int:
    """Clients that give up: ``call`` (a request with a short timeout) ``count`` times from
    ``threads`` threads; how many of them timed out."""

    def one(_: int) -> bool:
        try:
            call()
            return False
        except requests.exceptions.Timeout:
            return True

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, range(count)))


def small_args(repo: str, model: str, *extra: str, fronts: int = 1) -> list[str]:
    """Single-model mode on one model of the test repository, one worker."""
    return [
        "--model_name",
        model,
        "--model_path",
        os.path.join(repo, model),
        "--worker_processes",
        "1",
        "--front_processes",
        str(fronts),
        *extra,
    ]


def small_dummy_args(repo: str, *extra: str) -> list[str]:
    """Single-model mode on the test repository's ``dummy``, one worker and one front."""
    return small_args(repo, "dummy", *extra)
