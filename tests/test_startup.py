"""Start-up that tells the truth: a single model that cannot be served stops the start with one
clear line; repository problems are logged once per change, not per poll; a process group's
SIGTERM is a clean stop; the first log lines read right."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import modelgen
from tests.server_util import ROOT, Server, free_port, wait_ok


def start(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "ovserve", "--rest_port", str(free_port()), "--rest_bind_address", "127.0.0.1"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("missing", "model path {path} is not a readable directory"),
        ("empty", "No version found for model in path: {path}"),
        ("corrupt", 'version 1 failed to load: Unable to read the model: "{path}/1/model.xml"'),
    ],
)
def test_single_model_that_cannot_load_stops_the_start(tmp_path: Path, case: str, problem: str) -> None:
    path = tmp_path / case
    if case != "missing":
        path.mkdir()
    if case == "corrupt":
        (path / "1").mkdir()
        (path / "1" / "model.xml").write_text("<net")
        (path / "1" / "model.bin").write_bytes(b"")
    r = start(["--model_name", "m", "--model_path", str(path)])
    assert r.returncode == 1, r.stdout + r.stderr
    stops = [line for line in r.stdout.splitlines() if "cannot start" in line]  # logged, on stdout as OVMS
    assert len(stops) == 1 and f"model m cannot be served: {problem.format(path=path)}" in stops[0], r.stdout
    assert "serving REST" not in r.stdout and "Traceback" not in r.stdout + r.stderr


def test_repository_problems_are_logged_once_per_change(tmp_path: Path) -> None:
    base = tmp_path / "later"
    base.mkdir()
    modelgen.dummy(str(tmp_path / "ok"))
    models = [{"config": {"name": n, "base_path": str(tmp_path / n)}} for n in ("ok", "later")]
    (tmp_path / "config.json").write_text(json.dumps({"model_config_list": models}))
    log = str(tmp_path / "server.log")
    with Server(["--config_path", str(tmp_path / "config.json"), "--file_system_poll_wait_seconds", "1"], log) as s:
        s.wait_ready()
        time.sleep(3.5)  # three polls
        assert s.read_log().count(f"No version found for model in path: {base}") == 1
        assert requests.get(f"{s.url}/v1/models/later", timeout=10).json() == {"model_version_status": []}
        modelgen.dummy(str(base))  # the version appears: it loads, and the change is logged
        deadline = time.monotonic() + 30
        while requests.get(f"{s.url}/v1/models/later", timeout=10).json()["model_version_status"] == []:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert "model later: versions found again in its path" in s.read_log()


def test_a_process_group_sigterm_is_a_clean_stop(repo: str, tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "ovserve", "--model_name", "dummy", "--model_path", os.path.join(repo, "dummy")]
    argv += ["--rest_port", str(port), "--rest_bind_address", "127.0.0.1", "--front_processes", "2"]
    argv += ["--worker_processes", "1"]
    with open(tmp_path / "log", "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        wait_ok(f"http://127.0.0.1:{port}/v2/health/ready", 60, proc=proc)
        os.killpg(proc.pid, signal.SIGTERM)  # what a terminal's Ctrl-C or `kill -- -PGID` does
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "log").read_text()
    assert "[ERROR]" not in text and "exited with status" not in text, text
    assert "(2 fronts)" in text and "] 1 worker on CPUs" in text  # counted nouns agree


def test_out_of_range_floats_log_no_numpy_warning(single_server: Server) -> None:
    body = {"instances": [[1e300] + [1.0] * 9]}
    r = requests.post(f"{single_server.url}/v1/models/dummy:predict", json=body, timeout=30)
    assert r.status_code == 200  # inf, as OVMS's C cast gives
    assert "RuntimeWarning" not in single_server.read_log()
