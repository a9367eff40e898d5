"""Process plan and life cycle of the real server: pinning, clean SIGTERM, no leftovers."""

import os
import signal
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.server_util import Server, small_dummy_args


def children(server: Server) -> list[psutil.Process]:
    return psutil.Process(server.proc.pid).children()


def test_plan_pinning_and_clean_shutdown(repo: str, tmp_path: Path) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    with Server(
        [
            "--model_name",
            "dummy",
            "--model_path",
            os.path.join(repo, "dummy"),
            "--front_processes",
            "2",
            "--worker_processes",
            str(len(cpus)),
        ],
        str(tmp_path / "log"),
    ) as server:
        server.wait_ready()
        procs = children(server)
        workers = [p for p in procs if "ovserve.workers" in p.cmdline()]
        fronts = [p for p in procs if "ovserve.frontend" in p.cmdline()]
        assert len(fronts) == 2 and len(workers) == len(cpus)
        sets = sorted(tuple(p.cpu_affinity()) for p in workers)
        assert sets == [(c,) for c in cpus]  # disjoint sets out of the real allowance
        assert any(os.path.basename(p).startswith(f"ovserve-{server.proc.pid}-front") for p in os.listdir("/dev/shm"))
        assert requests.post(server.url + "/v1/models/dummy:predict", json={"inputs": [[1] * 10]}).status_code == 200
        assert server.stop(signal.SIGTERM) == 0
        assert server.leftovers() == []
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)


def test_sigint_also_stops_cleanly(repo: str, tmp_path: Path) -> None:
    server = Server(
        small_dummy_args(repo),
        str(tmp_path / "log"),
    )
    server.wait_ready()
    assert server.stop(signal.SIGINT) == 0
    assert server.leftovers() == []


@pytest.mark.slow
def test_killed_supervisor_leaves_no_orphans_and_next_start_cleans(repo: str, tmp_path: Path) -> None:
    args = small_dummy_args(repo)
    first = Server(args, str(tmp_path / "log1"))
    first.wait_ready()
    procs = children(first)
    first.stop(signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs):
        time.sleep(0.1)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)
    stale = first.leftovers()
    with Server(args, str(tmp_path / "log2")) as second:
        second.wait_ready()
        assert all(not os.path.exists(p) for p in stale)


def test_missing_model_path_fails_start(tmp_path: Path) -> None:
    server = Server(["--config_path", str(tmp_path / "missing.json")], str(tmp_path / "log"))
    assert server.proc.wait(60) == 1
    server.stop()
    assert server.leftovers() == []


def test_single_file_onnx_model(tmp_path: Path) -> None:
    """base_path pointing at one ONNX file serves it as version 1 (OVMS's single-file mode)."""
    from tests import modelgen

    path = modelgen.onnx_dummy(str(tmp_path / "onnx" / "dummy.onnx"))
    with Server(
        ["--model_name", "o", "--model_path", path, "--worker_processes", "1", "--front_processes", "1"],
        str(tmp_path / "log"),
    ) as server:
        server.wait_ready()
        r = requests.post(server.url + "/v1/models/o:predict", json={"instances": [list(range(10))]})
        assert r.json() == {"predictions": [[float(i + 1) for i in range(10)]]}
        assert requests.get(server.url + "/v1/models/o").json()["model_version_status"][0]["version"] == "1"
