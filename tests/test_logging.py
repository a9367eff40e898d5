"""``--log_path`` holds every process's lines (supervisor, HTTP front, gRPC front, worker), each in
OVMS's spdlog layout, and stdout carries the same lines (OVMS logs to both)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import requests

from tests import modelgen
from tests.server_util import Server, wait_ok, write_json

# [2026-12-08 00:40:00.123][pid][role][level][file.py:12] message
HEAD = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[\d+\]")
LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[(\d+)\]\[(\w+)\]\[(\w+)\]\[[\w.]+\.py:\d+\] (.*)$")


def test_log_path_gets_every_process(tmp_path: Path) -> None:
    base = tmp_path / "models"
    modelgen.dummy(str(base / "m"), version=1)
    os.makedirs(base / "m" / "2")  # a version without model files: the worker's load fails
    (base / "m" / "2" / "model.xml").write_text("<not a model")
    (base / "m" / "2" / "model.bin").write_bytes(b"")
    config = tmp_path / "config.json"
    write_json(
        str(config),
        {
            "model_config_list": [
                {"config": {"name": "m", "base_path": str(base / "m"), "model_version_policy": {"all": {}}}}
            ]
        },
    )
    log_file = tmp_path / "ovserve.log"
    stdout_file = str(tmp_path / "stdout.log")
    args = [
        "--config_path",
        str(config),
        "--log_path",
        str(log_file),
        "--log_level",
        "DEBUG",
        "--worker_processes",
        "1",
        "--front_processes",
        "1",
        "--grpc_workers",
        "1",
    ]
    with Server(args, stdout_file, grpc=True) as server:
        wait_ok(server.url + "/v2/health/live", 60, proc=server.proc, log_path=stdout_file)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = requests.get(server.url + "/v1/models/m/versions/1", timeout=5)
            if r.ok and r.json()["model_version_status"][0]["state"] == "AVAILABLE":
                break
            time.sleep(0.1)
        deadline = time.monotonic() + 30
        awaited = ("failed to load m version 2", "][grpc_front", "][front0]", "][worker0]")
        while time.monotonic() < deadline and not all(a in log_file.read_text() for a in awaited):
            time.sleep(0.1)
        server.stop()
        text = log_file.read_text()
        printed = server.read_log()

    lines = [line for line in text.splitlines() if line.startswith("[")]
    parsed = [LINE.match(line) for line in lines]
    assert lines and all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m][:5]
    roles = {m.group(2) for m in parsed if m}
    assert {"serving", "front0", "worker0"} <= roles and any(r.startswith("grpc_front") for r in roles), roles
    assert {m.group(3) for m in parsed if m} <= {"debug", "info", "warning", "error", "critical"}
    failure = [m for m in parsed if m and "failed to load m version 2" in m.group(4)]
    assert failure and failure[0].group(2) == "worker0" and failure[0].group(3) == "error"
    # each process writes its lines whole: no message holds another line's head
    assert not any(HEAD.search(m.group(4)) for m in parsed if m)
    # stdout has the same lines as the file (OVMS's two sinks)
    for m in parsed:
        assert m is not None and m.group(0) in printed
