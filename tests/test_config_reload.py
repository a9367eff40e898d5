"""Config mode: POST /v1/config/reload and GET /v1/config on the real server, with the seed's
messages and codes, OVMS's lifecycle, and no dropped requests while reloading."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests import modelgen
from tests.pipeline_util import node, pipeline
from tests.server_util import Server

FAILED = '{\n\t"error": "Reloading config file failed. Check server logs for more info."\n}'
NOT_FOUND = '{\n\t"error": "Config file not found or cannot open."\n}'
VERSIONS_FAILED = '{\n\t"error": "Reloading models versions failed. Check server logs for more info."\n}'


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config.json"

    def write(
        self, models: list[dict] | None = None, raw: str | None = None, pipelines: list[dict] | None = None
    ) -> None:
        doc: dict = {"model_config_list": [{"config": m} for m in models or []]}
        if pipelines:
            doc["pipeline_config_list"] = pipelines
        text = raw if raw is not None else json.dumps(doc)
        tmp = self.root / "config.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.config)


def back_to_a_only(server: Server, repo: Repo) -> None:
    """Leave the module's server as the next test expects it: only model a configured."""
    repo.write([{"name": "a", "base_path": "a"}])
    reload(server)


def status(server: Server) -> dict[str, list[tuple[str, str, str]]]:
    doc = requests.get(server.url + "/v1/config", timeout=10).json()
    return {
        name: [(s["version"], s["state"], s["status"]["error_code"]) for s in body["model_version_status"]]
        for name, body in doc.items()
    }


def reload(server: Server) -> requests.Response:
    return requests.post(server.url + "/v1/config/reload", timeout=60)


def predict(server: Server, model: str, value: float) -> requests.Response:
    return requests.post(server.url + f"/v1/models/{model}:predict", json={"inputs": [[value] * 10]}, timeout=30)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    root = tmp_path_factory.mktemp("reload")
    modelgen.dummy(str(root / "a"), version=1)
    modelgen.dummy(str(root / "b"), version=1, add=10.0)
    r = Repo(root)
    r.write([{"name": "a", "base_path": "a"}])
    return r


@pytest.fixture(scope="module")
def server(repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = str(tmp_path_factory.mktemp("logs") / "reload.log")
    s = Server(["--config_path", str(repo.config), "--file_system_poll_wait_seconds", "0"], log)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def test_reload_without_change_is_200(server: Server) -> None:
    r = reload(server)
    assert r.status_code == 200
    assert r.text == requests.get(server.url + "/v1/config").text
    assert r.text.startswith('{\n"a" : \n{\n "model_version_status": [')


def test_new_version_then_model_added_and_removed(server: Server, repo: Repo) -> None:
    modelgen.dummy(str(repo.root / "grow"), version=1)  # a model of its own: the module's tests run in any order
    grow = {"name": "grow", "base_path": "grow"}
    repo.write([{"name": "a", "base_path": "a"}, grow])
    assert reload(server).status_code == 201
    modelgen.dummy(str(repo.root / "grow"), version=2, add=2.0)
    r = reload(server)
    assert r.status_code == 201
    assert status(server)["grow"] == [("1", "END", "OK"), ("2", "AVAILABLE", "OK")]
    assert predict(server, "grow", 0).json() == {"outputs": [[2.0] * 10]}
    assert reload(server).status_code == 200  # nothing changed since

    repo.write([{"name": "a", "base_path": "a"}, grow, {"name": "b", "base_path": str(repo.root / "b")}])
    assert reload(server).status_code == 201
    assert status(server)["b"] == [("1", "AVAILABLE", "OK")]
    assert predict(server, "b", 1).json() == {"outputs": [[11.0] * 10]}

    repo.write([{"name": "a", "base_path": "a"}, grow])
    assert reload(server).status_code == 201
    assert status(server)["b"] == [("1", "END", "OK")]  # a removed model stays listed
    r = predict(server, "b", 1)
    assert (r.status_code, r.json()) == (404, {"error": "Model with requested version is retired"})
    back_to_a_only(server, repo)


@pytest.mark.parametrize(
    ("raw", "code", "body"),
    [
        ("{not json", 412, FAILED),
        ('{"model_config_list": [{"config": {"name": "a", "base_path": "a", "bogus": 1}}]}', 412, FAILED),
        ('{"model_config_list": [], "extra": 1}', 412, FAILED),
        ('{"model_config_list": [{"config": {"name": "a", "base_path": "a", "nireq": -1}}]}', 412, FAILED),
        (
            '{"model_config_list": [{"config": {"name": "a", "base_path": "a"}}, '
            '{"config": {"name": "c", "base_path": "nowhere"}}]}',
            400,
            FAILED,
        ),
        (
            '{"model_config_list": [{"config": {"name": "a", "base_path": "a"}}, '
            '{"config": {"name": "a", "base_path": "b"}}]}',
            500,
            FAILED,
        ),
    ],
)
def test_bad_configs_keep_serving(server: Server, repo: Repo, raw: str, code: int, body: str) -> None:
    before = status(server)["a"]
    repo.write(raw=raw)
    r = reload(server)
    assert (r.status_code, r.text) == (code, body)
    assert status(server)["a"] == before
    assert predict(server, "a", 0).status_code == 200
    repo.write([{"name": "a", "base_path": "a"}])
    assert reload(server).status_code in (200, 201)


def test_missing_config_file_then_fixed(server: Server, repo: Repo) -> None:
    os.unlink(repo.config)
    r = reload(server)
    assert (r.status_code, r.text) == (500, NOT_FOUND)
    assert predict(server, "a", 0).status_code == 200
    repo.write([{"name": "a", "base_path": "a"}])
    assert reload(server).status_code in (200, 201)


def test_model_without_files_fails_and_is_listed(server: Server, repo: Repo) -> None:
    os.makedirs(repo.root / "broken" / "1", exist_ok=True)
    repo.write([{"name": "a", "base_path": "a"}, {"name": "broken", "base_path": "broken"}])
    r = reload(server)
    assert (r.status_code, r.text) == (500, FAILED)
    assert status(server)["broken"] == [("1", "LOADING", "UNKNOWN")]
    back_to_a_only(server, repo)


def test_empty_model_directory(server: Server, repo: Repo) -> None:
    os.makedirs(repo.root / "empty", exist_ok=True)
    repo.write([{"name": "a", "base_path": "a"}, {"name": "empty", "base_path": "empty"}])
    assert reload(server).status_code == 201
    assert status(server)["empty"] == []
    back_to_a_only(server, repo)


def test_concurrent_reloads_get_the_same_answer(server: Server, repo: Repo) -> None:
    new = int(status(server)["a"][-1][0]) + 1  # a version no test has made yet
    modelgen.dummy(str(repo.root / "a"), version=new, add=float(new))
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: reload(server), range(10)))
    assert {a.text for a in answers} == {answers[0].text}
    assert all(a.status_code in (200, 201) for a in answers) and any(a.status_code == 201 for a in answers)
    assert status(server)["a"][-1] == (str(new), "AVAILABLE", "OK")


def test_changed_model_config_reloads_its_versions(server: Server, repo: Repo) -> None:
    latest = status(server)["a"][-1][0]  # version v of "a" adds v, whichever tests made it
    repo.write([{"name": "a", "base_path": "a", "plugin_config": {"NUM_STREAMS": "1"}}])
    assert reload(server).status_code == 201
    assert status(server)["a"][-1] == (latest, "AVAILABLE", "OK")
    assert predict(server, "a", 0).json() == {"outputs": [[float(latest)] * 10]}
    back_to_a_only(server, repo)


def test_removed_model_directory(server: Server, repo: Repo) -> None:
    shutil.copytree(repo.root / "b", repo.root / "gone")
    repo.write([{"name": "a", "base_path": "a"}, {"name": "gone", "base_path": "gone"}])
    assert reload(server).status_code == 201
    shutil.rmtree(repo.root / "gone")
    r = reload(server)
    assert (r.status_code, r.text) == (400, VERSIONS_FAILED)
    assert status(server)["gone"] == [("1", "END", "OK")]
    back_to_a_only(server, repo)


def test_sighup_reloads(server: Server, repo: Repo) -> None:
    new = str(int(status(server)["a"][-1][0]) + 1)  # a version no test has made yet
    modelgen.dummy(str(repo.root / "a"), version=int(new), add=float(new))
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and status(server)["a"][-1] != (new, "AVAILABLE", "OK"):
        time.sleep(0.1)
    assert status(server)["a"][-1] == (new, "AVAILABLE", "OK")


def test_polling_picks_up_new_versions(tmp_path: Path) -> None:
    modelgen.dummy(str(tmp_path / "m"), version=1)
    Repo(tmp_path).write([{"name": "m", "base_path": "m"}])
    with Server(
        [
            "--config_path",
            str(tmp_path / "config.json"),
            "--file_system_poll_wait_seconds",
            "1",
            "--worker_processes",
            "1",
            "--front_processes",
            "1",
        ],
        str(tmp_path / "log"),
    ) as s:
        s.wait_ready()
        modelgen.dummy(str(tmp_path / "m"), version=2, add=2.0)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and status(s)["m"] != [("1", "END", "OK"), ("2", "AVAILABLE", "OK")]:
            time.sleep(0.2)
        assert status(s)["m"] == [("1", "END", "OK"), ("2", "AVAILABLE", "OK")]


@pytest.mark.slow
def test_no_dropped_requests_during_reloads(tmp_path: Path) -> None:
    """Clients keep predicting on model a, and on a pipeline of two nodes of a, while versions
    come and go, model b is added and removed, and a broken config is written and fixed. Every
    request to a and to the pipeline (which follows a's default version) must succeed."""
    modelgen.dummy(str(tmp_path / "a"), version=1)
    modelgen.dummy(str(tmp_path / "b"), version=1)
    repo = Repo(tmp_path)
    a_only = [{"name": "a", "base_path": "a", "model_version_policy": {"latest": {"num_versions": 1}}}]

    nodes = [node("one", "a", {"b": ("request", "in")}, {"x": "a"}), node("two", "a", {"b": ("one", "x")}, {"y": "a"})]
    chain = [pipeline("twice_a", ["in"], nodes, {"out": ("two", "y")})]
    repo.write(a_only, pipelines=chain)
    stop = threading.Event()
    results: list[tuple[int, object]] = []
    pipeline_results: list[tuple[int, object]] = []
    b_results: list[int] = []
    with Server(
        ["--config_path", str(repo.config), "--file_system_poll_wait_seconds", "0"], str(tmp_path / "log")
    ) as s:
        s.wait_ready()

        def client(seed: int) -> None:
            with requests.Session() as session:
                i = 0
                while not stop.is_set():
                    v = float(seed * 1000 + i)
                    r = session.post(s.url + "/v1/models/a:predict", json={"inputs": [[v] * 10]}, timeout=30)
                    results.append((r.status_code, r.json()["outputs"][0][0] - v if r.ok else r.text))
                    i += 1

        def pipeline_client() -> None:
            with requests.Session() as session:
                i = 0
                while not stop.is_set():
                    v = float(i)
                    r = session.post(s.url + "/v1/models/twice_a:predict", json={"inputs": [[v] * 10]}, timeout=30)
                    pipeline_results.append((r.status_code, r.json()["outputs"][0][0] - v if r.ok else r.text))
                    i += 1

        def b_client() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    r = session.post(s.url + "/v1/models/b:predict", json={"inputs": [[1.0] * 10]}, timeout=30)
                    b_results.append(r.status_code)
                    time.sleep(0.005)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        threads += [threading.Thread(target=b_client), threading.Thread(target=pipeline_client)]
        for t in threads:
            t.start()
        try:
            for cycle in range(6):
                modelgen.dummy(str(tmp_path / "a"), version=cycle + 2)  # a new version of a: the old one retires
                assert reload(s).status_code == 201
                repo.write([*a_only, {"name": "b", "base_path": "b"}], pipelines=chain)
                assert reload(s).status_code == 201
                repo.write(raw="{ broken")
                assert reload(s).status_code == 412
                repo.write(a_only, pipelines=chain)
                assert reload(s).status_code == 201
                shutil.rmtree(tmp_path / "a" / str(cycle + 2))  # its directory removed: back to the previous
                assert reload(s).status_code == 201
        finally:
            stop.set()
            for t in threads:
                t.join()
    bad = [r for r in results if r != (200, 1.0)]
    bad_pipeline = [r for r in pipeline_results if r != (200, 2.0)]
    print(
        f"no-drop: {len(results)} requests to a, {len(bad)} not 200/correct; pipeline: {len(pipeline_results)} "
        f"requests, {len(bad_pipeline)} not 200/correct; b: {len(b_results)} requests, codes {sorted(set(b_results))}"
    )
    assert len(results) > 100 and bad == []
    assert len(pipeline_results) > 50 and bad_pipeline == [], bad_pipeline[:5]
    assert set(b_results) <= {200, 404}


def test_placement_with_replicas(tmp_path: Path) -> None:
    """With --model_replicas 1 and two workers, two models live on different workers: each
    worker process loads only its own model, and both answer."""
    for name in ("p", "q"):
        modelgen.dummy(str(tmp_path / name), version=1)
    Repo(tmp_path).write([{"name": "p", "base_path": "p"}, {"name": "q", "base_path": "q"}])
    with Server(
        [
            "--config_path",
            str(tmp_path / "config.json"),
            "--worker_processes",
            "2",
            "--model_replicas",
            "1",
            "--file_system_poll_wait_seconds",
            "0",
        ],
        str(tmp_path / "log"),
    ) as s:
        s.wait_ready()
        log = s.read_log()
        placed = dict(re.findall(r"model (\w) placed on workers \[(\d)\]", log))
        assert placed.keys() == {"p", "q"} and placed["p"] != placed["q"]
        for name in ("p", "q"):
            loads = re.findall(rf"worker (\d) loaded {name} version 1", log)
            assert loads == [placed[name]]
            assert predict(s, name, 1).json() == {"outputs": [[2.0] * 10]}
