"""Disk and config faults while serving: a model file truncated, one rewritten while it loads,
a version folder the server may not read, a config file written non-atomically around a reload,
and a full /dev/shm. Each gives a log line and an error state; the serving version keeps serving
and no process dies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import psutil
import pytest
import requests
from ovserve.shared import errors as E
from ovserve.shared.shm import SHM_DIR

from tests import modelgen
from tests.server_util import Server, small_args

SMALL = {"instances": [[1.0] * 10]}
# Root reads any folder: the server runs without the capabilities that let it, so that file
# permissions apply to it as to any user.
NO_DAC = "-dac_override,-dac_read_search"
AS_A_USER = ["setpriv", "--bounding-set", NO_DAC, "--inh-caps", NO_DAC, "--"] if os.geteuid() == 0 else []


class Repo:
    def __init__(self) -> None:
        self.base = tempfile.mkdtemp(prefix="ovserve-faults-")
        modelgen.dummy(os.path.join(self.base, "m"), version=1)
        self.config = os.path.join(self.base, "config.json")
        self.write_config(self.models("m"))

    @staticmethod
    def models(*names: str) -> bytes:
        entries = [{"config": {"name": n, "base_path": n, "model_version_policy": {"all": {}}}} for n in names]
        return json.dumps({"model_config_list": entries}, indent=2).encode()

    def write_config(self, text: bytes) -> None:
        with open(self.config, "wb") as f:
            f.write(text)

    def version(self, number: int) -> str:
        return os.path.join(self.base, "m", str(number))


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Repo]]:
    repo = Repo()
    args = ["--config_path", repo.config, "--file_system_poll_wait_seconds", "1", "--worker_processes", "1"]
    log = str(tmp_path_factory.mktemp("logs") / "faults.log")
    server = Server(args, log, wrapper=AS_A_USER)
    try:
        server.wait_ready()
        yield server, repo
    finally:
        server.stop()
        shutil.rmtree(repo.base, ignore_errors=True)


def pids(server: Server) -> list[int]:
    return sorted(p.pid for p in psutil.Process(server.proc.pid).children())


class Version1Load:
    """Predicts on version 1 all along: every answer must be right."""

    def __init__(self, server: Server) -> None:
        self.url = server.url + "/v1/models/m/versions/1:predict"
        self.stop = threading.Event()
        self.codes: dict[int, int] = {}
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            r = requests.post(self.url, json=SMALL, timeout=30)
            ok = r.status_code == 200 and r.json() == {"predictions": [[2.0] * 10]}
            self.codes[200 if ok else r.status_code] = self.codes.get(200 if ok else r.status_code, 0) + 1
            time.sleep(0.01)

    def __enter__(self) -> Version1Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        assert set(self.codes) == {200}, self.codes


def version_state(server: Server, number: int) -> tuple[str, str] | None:
    r = requests.get(server.url + "/v1/models/m", timeout=10)
    for v in r.json().get("model_version_status", []):
        if v["version"] == str(number):
            return v["state"], v["status"]["error_code"]
    return None


def wait_state(server: Server, number: int, timeout: float = 30.0) -> tuple[str, str]:
    """The version's state once it settles (AVAILABLE, or LOADING with an error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = version_state(server, number)
        if state is not None and (state[0] == "AVAILABLE" or state[1] != "OK"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"version {number} did not settle: {version_state(server, number)}")


def log_lines(server: Server, text: str) -> list[str]:
    return [line for line in server.read_log().splitlines() if text in line]


def test_truncated_model_file(faults: tuple[Server, Repo]) -> None:
    server, repo = faults
    before = pids(server)
    with Version1Load(server) as load:
        staging = repo.version(2) + ".tmp"
        shutil.copytree(repo.version(1), staging)
        with open(os.path.join(staging, "model.bin"), "r+b") as f:
            f.truncate(7)
        os.rename(staging, repo.version(2))
        state = wait_state(server, 2)
    lines = log_lines(server, "failed to load m version 2")
    print(f"\ntruncated model.bin: version 2 {state}; log: {lines[:1]}; version 1 answers {load.codes}")
    assert state == ("LOADING", "UNKNOWN")
    assert lines
    assert pids(server) == before


@pytest.mark.slow
def test_model_file_rewritten_while_loading(faults: tuple[Server, Repo]) -> None:
    server, repo = faults
    before = pids(server)
    folder = repo.version(3)
    with Version1Load(server) as load:
        os.makedirs(folder)
        shutil.copy(os.path.join(repo.version(1), "model.xml"), folder)
        with open(os.path.join(repo.version(1), "model.bin"), "rb") as f:
            weights = f.read()
        ended = time.monotonic() + 4
        while time.monotonic() < ended:  # truncated and rewritten, over and over, as it loads
            with open(os.path.join(folder, "model.bin"), "wb") as f:
                f.write(weights[: len(weights) // 2])
                f.flush()
                time.sleep(0.005)
                f.write(weights[len(weights) // 2 :])
        state = wait_state(server, 3)
    failed = log_lines(server, "failed to load m version 3")
    print(f"\nmodel.bin rewritten during the load: version 3 {state}; failure logged: {bool(failed)}; {load.codes}")
    assert state == ("AVAILABLE", "OK") or (state == ("LOADING", "UNKNOWN") and failed)
    assert pids(server) == before, "a process died"


def test_unreadable_version_folder(faults: tuple[Server, Repo]) -> None:
    server, repo = faults
    folder = repo.version(4)
    shutil.copytree(repo.version(1), folder)
    os.chmod(folder, 0)
    try:
        with Version1Load(server) as load:
            state = wait_state(server, 4)
    finally:
        os.chmod(folder, 0o755)
    lines = log_lines(server, "failed to load m version 4")
    print(f"\nunreadable version folder: version 4 {state}; log: {lines[:1]}; {load.codes}")
    assert state == ("LOADING", "UNKNOWN")
    assert lines and "ermission denied" in lines[0]


@pytest.mark.slow
def test_config_written_non_atomically(faults: tuple[Server, Repo]) -> None:
    server, repo = faults
    shutil.copytree(repo.version(1), os.path.join(repo.base, "n", "1"))
    text = repo.models("m", "n")
    with Version1Load(server) as load:
        repo.write_config(text[: len(text) // 2])  # a writer half-way through
        half = requests.post(server.url + "/v1/config/reload", timeout=60)
        time.sleep(2.5)  # the file poller also sees the half-written file
        listed = sorted(requests.get(server.url + "/v1/config", timeout=10).json())
        repo.write_config(text)
        done = requests.post(server.url + "/v1/config/reload", timeout=60)
        n = requests.post(server.url + "/v1/models/n:predict", json=SMALL, timeout=10)
    invalid = log_lines(server, "not valid json") + log_lines(server, "valid JSON")
    print(
        f"\nhalf-written config: reload {half.status_code} {half.json()}, models still {listed}, "
        f"log lines {len(invalid)}; completed: reload {done.status_code}, new model {n.status_code}; {load.codes}"
    )
    assert half.status_code >= 400 and "error" in half.json()
    assert listed == ["m"]
    assert invalid
    assert done.status_code in (200, 201) and n.status_code == 200


def _private_shm_works() -> bool:
    return os.geteuid() == 0 and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
def test_full_dev_shm(tmp_path: str) -> None:
    """A private 96 MiB /dev/shm (a mount namespace) filled up while serving: a request whose
    tensors need new shared memory gets a 503; the front does not die of SIGBUS; freed, it works."""
    if not _private_shm_works():
        pytest.fail("needs root and unshare(1) for a private /dev/shm")  # CI runs as root
    base = str(tmp_path)
    modelgen.dummy(os.path.join(base, "dyn"), batch=None)
    mount = 'mount -t tmpfs -o size=96m tmpfs /dev/shm && exec "$@"'
    wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c", mount, "sh"]
    args = small_args(base, "dyn", "--shm_arena_mb", "64")
    with Server(args, os.path.join(base, "shm.log"), wrapper=wrapper) as server:
        server.wait_ready()
        before = pids(server)
        small = requests.post(server.url + "/v1/models/dyn:predict", json=SMALL, timeout=10)
        big = {"instances": [[0.5] * 10] * 400_000}  # 16 MB in and 16 MB out: new pages of the arena
        # the server's /dev/shm, seen from outside its mount namespace
        filler = os.path.join(os.sep, "proc", str(server.proc.pid), "root", SHM_DIR.lstrip(os.sep), "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 2**20)
            except OSError:
                pass
        full = requests.post(server.url + "/v1/models/dyn:predict", json=big, timeout=60)
        still = requests.post(server.url + "/v1/models/dyn:predict", json=SMALL, timeout=10)
        os.unlink(filler)
        freed = requests.post(server.url + "/v1/models/dyn:predict", json=big, timeout=60)
        after = pids(server)
    print(
        f"\nfull /dev/shm: large request {full.status_code} {full.json()}, small {still.status_code}; "
        f"after freeing: large {freed.status_code}; processes unchanged: {before == after}"
    )
    assert small.status_code == 200 and still.status_code == 200
    assert full.status_code == 503 and full.json() == {"error": E.SHARED_MEMORY_FULL.message}
    assert freed.status_code == 200 and len(freed.json()["predictions"]) == 400_000
    assert before == after
