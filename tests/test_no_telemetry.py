"""Nothing leaves the machine uninvited: the real server (supervisor, fronts, workers with OpenVINO
and OpenVINO Tokenizers loaded) started with a clean home folder under ``strace``, a model served,
then stopped: no process connects anywhere but to loopback and its own Unix sockets, and nothing
is written to the home folder (OpenVINO's usage telemetry would make a consent folder there, look
up DNS and post to Google Analytics)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import requests

from tests.debian_tools import debian_tool
from tests.server_util import ROOT, free_port, wait_ok

# connect() to an IPv4/IPv6 address: sin_addr=inet_addr("1.2.3.4") / inet_pton(AF_INET6, "::1", ...)
_ADDRESS = re.compile(
    r'connect\(\d+, \{sa_family=AF_INET6?, .*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")'
)
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def remote_connects(trace: str) -> list[str]:
    found = []
    for line in trace.splitlines():
        m = _ADDRESS.search(line)
        if m and (m.group(1) or m.group(2)) not in LOOPBACK:
            found.append(line.strip())
    return found


def test_no_process_connects_anywhere(repo: str, tmp_path: Path) -> None:
    strace = debian_tool("strace", "strace")
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    trace = tmp_path / "trace.txt"
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": ROOT}
    env.pop("CI", None)  # openvino_telemetry stays quiet in CI jobs: the test must not rely on that
    command = [sys.executable, "-m", "ovserve", "--model_name", "dummy", "--model_path", os.path.join(repo, "dummy")]
    command += ["--rest_port", str(port), "--rest_bind_address", "127.0.0.1", "--worker_processes", "1"]
    traced = subprocess.Popen(
        [strace, "-f", "-qq", "-e", "trace=connect", "-o", str(trace), *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ok(f"http://127.0.0.1:{port}/v2/health/ready", 120, proc=traced)
        body = {"instances": [[1.0] * 10]}
        assert requests.post(f"http://127.0.0.1:{port}/v1/models/dummy:predict", json=body, timeout=10).ok
    finally:
        for child in psutil.Process(traced.pid).children():
            child.send_signal(signal.SIGTERM)  # the supervisor: it stops its processes
        traced.wait(60)
    text = trace.read_text()
    assert "connect(" in text  # the trace saw the processes' own sockets
    assert remote_connects(text) == []
    assert list(home.iterdir()) == []


def test_the_version_line_sends_nothing(tmp_path: Path) -> None:
    strace = debian_tool("strace", "strace")
    trace = tmp_path / "trace.txt"
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": ROOT}
    env.pop("CI", None)
    command = [strace, "-f", "-qq", "-e", "trace=connect", "-o", str(trace), sys.executable, "-m", "ovserve"]
    out = subprocess.run([*command, "--version"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "OpenVINO backend" in out.stdout
    assert remote_connects(trace.read_text()) == []
    assert not (tmp_path / "intel").exists()
