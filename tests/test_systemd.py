"""systemd integration: the exact sd_notify datagrams on a real NOTIFY_SOCKET, and the unit
file verified by systemd-analyze where it is installed."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.server_util import ROOT, Server, small_dummy_args


def receive(sock: socket.socket, until: str, timeout: float = 30) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} in {got}")


def test_notify_datagrams(repo: str, tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
    server = Server(
        small_dummy_args(repo),
        str(tmp_path / "log"),
        extra_env=env,
    )
    try:
        first = receive(sock, "READY=1")
        assert first[-1] == f"READY=1\nSTATUS=serving, pid {server.proc.pid}"
        assert all(m == "WATCHDOG=1" for m in first[:-1])
        server.wait_ready()
        watchdogs = receive(sock, "WATCHDOG=1", timeout=2)
        assert watchdogs[-1] == "WATCHDOG=1"
        server.proc.send_signal(signal.SIGHUP)
        during = receive(sock, "READY=1")
        reloading = [m for m in during if m.startswith("RELOADING=1")]
        assert len(reloading) == 1 and re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", reloading[0])
        assert during.index(reloading[0]) < len(during) - 1 and during[-1].startswith("READY=1")
        server.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in receive(sock, "STOPPING=1")
        assert server.proc.wait(30) == 0
    finally:
        server.stop()
        sock.close()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_unit_file_verifies(tmp_path: Path) -> None:
    unit = (Path(ROOT) / "deploy" / "ovserve.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert re.search(r"^User=ovserve$", unit, re.M) and "NoNewPrivileges=yes" in unit
    # point ExecStart at this checkout's interpreter so that verify can check the command exists
    local = unit.replace("/opt/ovserve/venv/bin/ovserve", f"{sys.executable} -m ovserve")
    target = tmp_path / "ovserve.service"
    target.write_text(local)
    r = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True, text=True, timeout=60)
    problems = [line for line in r.stderr.splitlines() if str(target) in line or "ovserve.service" in line]
    assert r.returncode == 0 and not problems, r.stderr
