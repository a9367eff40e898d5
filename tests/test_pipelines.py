"""DAG pipelines from config.json on the real server: a chain and a fan-out/fan-in of DL-model
nodes served like models (status, metadata, TFS REST row and column, KServe REST, gRPC clients),
listed with the models by the config endpoints, and their lifecycle across reloads."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import ovmsclient
import psutil
import pytest
import requests
import tritonclient.grpc as grpcclient
from ovserve.shared import errors as E

from tests import modelgen
from tests.pipeline_util import node, pipeline
from tests.server_util import Server, impatient_clients, write_json

CHAIN = pipeline(
    "chain",
    ["in"],
    [
        node("first", "dummy", {"b": ("request", "in")}, {"o1": "a"}),
        node("second", "dummy", {"b": ("first", "o1")}, {"o2": "a"}),
    ],
    {"out": ("second", "o2")},
)
FAN = pipeline(
    "fan",
    ["x", "y"],
    [
        node("left", "two", {"a": ("request", "x"), "b": ("request", "y")}, {"s": "sum"}),
        node("right", "two", {"a": ("request", "x"), "b": ("request", "y")}, {"n": "neg"}),
        node("join", "two", {"a": ("left", "s"), "b": ("right", "n")}, {"s": "sum", "n": "neg"}),
    ],
    {"total": ("join", "s"), "back": ("join", "n"), "double": ("left", "s")},
)
ENTRY_DEMUX = {  # OVMS's config_dummy_dynamic_entry_dag.json: the request splits along dim 0
    **pipeline("entry_demux", ["b"], [node("d", "dummy", {"b": ("request", "b")}, {"a": "a"})], {"a": ("d", "a")}),
    "demultiply_count": 0,
}
NODE_DEMUX = pipeline(
    "node_demux",
    ["x"],
    [
        node("tile", "tile3", {"x": ("request", "x")}, {"t": "t"}, demultiply_count=3),
        node("each", "dummy", {"b": ("tile", "t")}, {"a": "a"}),
        node("sum", "sum3", {"s": ("each", "a")}, {"total": "total"}, gather_from_node="tile"),
    ],
    {"total": ("sum", "total"), "each": ("each", "a")},
)
NESTED = pipeline(  # two demultiplexers, nested: 3 shards, then 3 of each; the inner one gathered by sum3
    "nested",
    ["x"],
    [
        node("outer", "tile3", {"x": ("request", "x")}, {"t": "t"}, demultiply_count=3),
        node("inner", "tile3", {"x": ("outer", "t")}, {"t": "t"}, demultiply_count=3),
        node("each", "dummy", {"b": ("inner", "t")}, {"a": "a"}),
        node("sum", "sum3", {"s": ("each", "a")}, {"total": "total"}, gather_from_node="inner"),
    ],
    {"sums": ("sum", "total"), "all": ("each", "a")},
)
CHAIN_MID = pipeline(  # one worker runs it whole: the first node's output is returned too
    "chain_mid",
    ["in"],
    [
        node("first", "dummy", {"b": ("request", "in")}, {"o1": "a"}),
        node("second", "dummy", {"b": ("first", "o1")}, {"o2": "a"}),
    ],
    {"out": ("second", "o2"), "mid": ("first", "o1"), "echo": ("request", "in")},
)
DYN_CHAIN = pipeline(  # dynamic dims between the nodes: runs node by node, each request validated
    "dyn_chain",
    ["x", "y"],
    [
        node("one", "two", {"a": ("request", "x"), "b": ("request", "y")}, {"s": "sum", "n": "neg"}),
        node("again", "two", {"a": ("one", "s"), "b": ("one", "n")}, {"s": "sum", "n": "neg"}),
    ],
    {"s": ("again", "s"), "n": ("again", "n")},
)
BROKEN = pipeline("broken", ["in"], [node("n", "missing", {"b": ("request", "in")}, {"o": "a"})], {"out": ("n", "o")})
CLASH = {**CHAIN, "name": "dummy"}  # a model has the name: never listed


class Repo:
    def __init__(self, base: str) -> None:
        self.base = base
        modelgen.dummy(os.path.join(base, "dummy"))
        modelgen.two_in_two_out(os.path.join(base, "two"))
        modelgen.tile3(os.path.join(base, "tile3"))
        modelgen.sum3(os.path.join(base, "sum3"))
        self.config = os.path.join(base, "config.json")

    def write(self, models: list[str], pipelines: list[dict]) -> None:
        doc = {
            "model_config_list": [{"config": {"name": m, "base_path": m}} for m in models],
            "pipeline_config_list": pipelines,
        }
        write_json(self.config, doc)


INITIAL_MODELS = ["dummy", "two", "tile3", "sum3"]
INITIAL_PIPELINES = [CHAIN, FAN, BROKEN, CLASH, ENTRY_DEMUX, NODE_DEMUX, CHAIN_MID, DYN_CHAIN, NESTED]


def restore(server: Server, repo: Repo) -> None:
    """The module's config again, after a test that changed it: the other tests run in any order.
    The reload fails (500) as the first load did: broken and clash fail validation on purpose."""
    repo.write(INITIAL_MODELS, INITIAL_PIPELINES)
    assert requests.post(server.url + "/v1/config/reload", timeout=60).status_code == 500


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Repo]]:
    repo = Repo(str(tmp_path_factory.mktemp("pipelines")))
    repo.write(INITIAL_MODELS, INITIAL_PIPELINES)
    args = ["--config_path", repo.config, "--file_system_poll_wait_seconds", "0", "--metrics_enable"]
    server = Server(args, str(tmp_path_factory.mktemp("logs") / "pipelines.log"), grpc=True)
    try:
        server.wait_ready()
        yield server, repo
    finally:
        server.stop()


def status(server: Server, name: str, suffix: str = "") -> Any:
    return requests.get(f"{server.url}/v1/models/{name}{suffix}", timeout=10).json()


def entry(state: str, code: str = "OK", message: str = "OK") -> dict[str, Any]:
    return {"version": "1", "state": state, "status": {"error_code": code, "error_message": message}}


FAILED = {
    "version": "1",
    "state": "LOADING",
    "status": {"error_code": "FAILED_PRECONDITION", "error_message": "FAILED_PRECONDITION"},
}


def test_status_and_config_list_pipelines_with_models(served: tuple[Server, Repo]) -> None:
    server, _ = served
    assert status(server, "chain") == {"model_version_status": [entry("AVAILABLE")]}
    assert status(server, "chain", "/versions/7") == {"model_version_status": [entry("AVAILABLE")]}
    assert status(server, "broken") == {"model_version_status": [FAILED]}
    listed = requests.get(server.url + "/v1/config", timeout=10).json()
    assert sorted(listed) == [
        "broken", "chain", "chain_mid", "dummy", "dyn_chain", "entry_demux", "fan", "nested", "node_demux", "sum3",
        "tile3", "two",
    ]  # fmt: skip
    assert listed["fan"] == {"model_version_status": [entry("AVAILABLE")]}
    log = server.read_log()
    assert "Pipeline name: dummy is already occupied by model or mediapipe graph." in log
    assert "Validation of pipeline: broken definition failed. Missing model: missing; version: 0" in log


def test_metadata_derived_from_the_nodes(served: tuple[Server, Repo]) -> None:
    server, _ = served
    meta = status(server, "fan", "/metadata")
    sig = meta["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    assert sorted(sig["inputs"]) == ["x", "y"] and sig["inputs"]["y"]["dtype"] == "DT_INT32"
    assert sorted(sig["outputs"]) == ["back", "double", "total"]
    assert meta["modelSpec"]["version"] == "1"
    v2 = requests.get(server.url + "/v2/models/fan", timeout=10).json()
    assert v2["name"] == "fan" and v2["versions"] == ["1"] and v2["platform"] == "OpenVINO"
    assert {t["name"]: t["shape"] for t in v2["inputs"]} == {"x": [-1, 3], "y": [-1, 2]}


def test_predict_rest(served: tuple[Server, Repo]) -> None:
    server, _ = served
    row = requests.post(server.url + "/v1/models/chain:predict", json={"instances": [[1.0] * 10]}, timeout=10)
    assert row.status_code == 200 and row.json() == {"predictions": [[3.0] * 10]}
    column = requests.post(
        server.url + "/v1/models/chain/versions/3:predict", json={"inputs": [[0.5] * 10]}, timeout=10
    )
    assert column.json() == {"outputs": [[2.5] * 10]}
    fan: dict[str, Any] = {"inputs": {"x": [[1.0, 2.0, 3.0]], "y": [[4, 5]]}}
    r = requests.post(server.url + "/v1/models/fan:predict", json=fan, timeout=10)
    assert r.json() == {"outputs": {"total": [[4.0, 8.0, 12.0]], "back": [[4, 5]], "double": [[2.0, 4.0, 6.0]]}}
    kserve: dict[str, Any] = {
        "inputs": [
            {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 1, 1, 2, 2, 2]},
            {"name": "y", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]},
        ]
    }
    r = requests.post(server.url + "/v2/models/fan/infer", json=kserve, timeout=10).json()
    assert r["model_name"] == "fan" and r["model_version"] == "1"
    assert {o["name"]: o["data"] for o in r["outputs"]}["total"] == [4.0] * 3 + [8.0] * 3
    bad = requests.post(server.url + "/v1/models/chain:predict", json={"instances": [[1.0] * 9]}, timeout=10)
    assert bad.status_code == 400
    broken = requests.post(server.url + "/v1/models/broken:predict", json={"instances": [[1.0] * 10]}, timeout=10)
    assert broken.status_code == 404 and broken.json() == {"error": E.PIPELINE_DEFINITION_NOT_LOADED_YET.message}


def test_chains_whole_in_a_worker_or_node_by_node(served: tuple[Server, Repo]) -> None:
    server, _ = served
    r = requests.post(server.url + "/v1/models/chain_mid:predict", json={"inputs": [[0.5] * 10]}, timeout=10)
    assert r.json() == {"outputs": {"out": [[2.5] * 10], "mid": [[1.5] * 10], "echo": [[0.5] * 10]}}
    body: dict[str, Any] = {"inputs": {"x": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "y": [[1, 2], [3, 4]]}}
    r = requests.post(server.url + "/v1/models/dyn_chain:predict", json=body, timeout=10)
    # two: sum = a * 2, neg = -b; twice: a * 4 and b
    assert r.json() == {"outputs": {"s": [[4.0, 8.0, 12.0], [16.0, 20.0, 24.0]], "n": [[1, 2], [3, 4]]}}


def test_demultiplexing(served: tuple[Server, Repo]) -> None:
    server, _ = served
    entry_meta = requests.get(server.url + "/v2/models/entry_demux", timeout=10).json()
    assert entry_meta["inputs"][0]["shape"] == [-1, 1, 10] and entry_meta["outputs"][0]["shape"] == [-1, 1, 10]
    x = [[[float(k)] * 10] for k in range(3)]  # [3,1,10]: three requests to dummy
    r = requests.post(server.url + "/v1/models/entry_demux:predict", json={"inputs": x}, timeout=10)
    assert r.status_code == 200 and r.json() == {"outputs": [[[float(k) + 1] * 10] for k in range(3)]}
    node_meta = requests.get(server.url + "/v2/models/node_demux", timeout=10).json()
    assert {t["name"]: t["shape"] for t in node_meta["outputs"]} == {"total": [1, 10], "each": [3, 1, 10]}
    r = requests.post(server.url + "/v1/models/node_demux:predict", json={"inputs": [[1.0] * 10]}, timeout=10)
    out = r.json()["outputs"]
    # tile: (x, x+10, x+20); each shard +1; gathered and summed: 3x + 33
    assert out["total"] == [[36.0] * 10]
    assert out["each"] == [[[2.0] * 10], [[12.0] * 10], [[22.0] * 10]]  # gathered by the response
    nested_meta = requests.get(server.url + "/v2/models/nested", timeout=10).json()
    assert {t["name"]: t["shape"] for t in nested_meta["outputs"]} == {"sums": [3, 1, 10], "all": [3, 3, 1, 10]}
    r = requests.post(server.url + "/v1/models/nested:predict", json={"inputs": [[1.0] * 10]}, timeout=10)
    out = r.json()["outputs"]
    # outer shard i: x + 10i; inner shard j of it: x + 10i + 10j; each +1; sum over j: 3x + 30i + 33
    assert out["all"] == [[[[1.0 + 10 * i + 10 * j + 1] * 10] for j in range(3)] for i in range(3)]
    assert out["sums"] == [[[3.0 + 30 * i + 33] * 10] for i in range(3)]
    wrong = requests.post(server.url + "/v1/models/entry_demux:predict", json={"inputs": [[1.0] * 10]}, timeout=10)
    assert wrong.status_code == 400  # [1,10] is not [-1,1,10]


def test_predict_grpc(served: tuple[Server, Repo]) -> None:
    server, _ = served
    client = ovmsclient.make_grpc_client(f"127.0.0.1:{server.grpc_port}")
    out = client.predict(inputs={"in": np.ones((1, 10), np.float32)}, model_name="chain")
    assert np.array_equal(out, np.full((1, 10), 3.0))
    triton = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    x = grpcclient.InferInput("x", [1, 3], "FP32")
    x.set_data_from_numpy(np.array([[1, 2, 3]], np.float32))
    y = grpcclient.InferInput("y", [1, 2], "INT32")
    y.set_data_from_numpy(np.array([[6, 7]], np.int32))
    result = triton.infer("fan", [x, y])
    assert np.array_equal(result.as_numpy("total"), [[4, 8, 12]]) and np.array_equal(result.as_numpy("back"), [[6, 7]])
    assert triton.is_model_ready("fan") and not triton.is_model_ready("broken")


def test_metrics_count_pipeline_requests(served: tuple[Server, Repo]) -> None:
    server, _ = served
    series = 'ovms_requests_success{api="TensorFlowServing",interface="REST",method="Predict",name="fan",version="1"}'

    def value() -> int:
        text = requests.get(server.url + "/metrics", timeout=10).text
        return int(next(line.split()[-1] for line in text.splitlines() if line.startswith(series)))

    before = value()
    for _ in range(3):
        body: dict[str, Any] = {"inputs": {"x": [[1.0, 2.0, 3.0]], "y": [[4, 5]]}}
        assert requests.post(server.url + "/v1/models/fan:predict", json=body, timeout=10).status_code == 200
    assert value() == before + 3
    text = requests.get(server.url + "/metrics", timeout=10).text
    assert 'ovms_request_time_us_count{interface="REST",name="fan",version="1"}' in text
    assert 'ovms_streams{name="fan"' not in text  # a pipeline has only request families (as OVMS)

    def inferences(model: str) -> int:
        text = requests.get(server.url + "/metrics", timeout=10).text
        prefix = f'ovms_inference_time_us_count{{name="{model}",version="1"}}'
        return int(next(line.split()[-1] for line in text.splitlines() if line.startswith(prefix)))

    before = inferences("dummy")
    for _ in range(3):  # a chain run whole by one worker: each node counts for its model
        assert requests.post(server.url + "/v1/models/chain:predict", json={"inputs": [[1.0] * 10]}, timeout=10).ok
    assert inferences("dummy") == before + 6


def reload(server: Server) -> tuple[int, Any]:
    r = requests.post(server.url + "/v1/config/reload", timeout=60)
    return r.status_code, r.json()


def test_lifecycle_across_reloads(served: tuple[Server, Repo]) -> None:
    server, repo = served
    repo.write(
        ["dummy", "two", "tile3", "sum3"], [FAN, BROKEN]
    )  # chain removed; broken still fails: so does the reload
    code, body = reload(server)
    assert code == 500 and body == {"error": E.CONFIG_RELOAD_FAILED.message}
    assert status(server, "chain") == {"model_version_status": [entry("END")]}
    gone = requests.post(server.url + "/v1/models/chain:predict", json={"instances": [[1.0] * 10]}, timeout=10)
    assert gone.status_code == 404 and gone.json() == {"error": E.PIPELINE_DEFINITION_NOT_LOADED_ANYMORE.message}
    repo.write(["dummy", "two"], [FAN])  # broken removed
    assert reload(server)[0] == 201
    assert status(server, "broken") == {"model_version_status": [entry("END")]}
    repo.write(["dummy"], [FAN])  # a model the fan uses is removed
    code, body = reload(server)
    assert code == 500 and body == {"error": E.CONFIG_RELOAD_FAILED.message}
    assert status(server, "fan") == {"model_version_status": [FAILED]}
    repo.write(["dummy", "two"], [FAN, CHAIN])  # the model back, and the chain
    code, _ = reload(server)
    assert code == 201
    assert status(server, "fan") == {"model_version_status": [entry("AVAILABLE")]}
    assert status(server, "chain") == {"model_version_status": [entry("AVAILABLE")]}
    assert status(server, "broken") == {"model_version_status": [entry("END")]}
    assert reload(server)[0] == 200  # nothing changed
    r = requests.post(server.url + "/v1/models/chain:predict", json={"instances": [[1.0] * 10]}, timeout=10)
    assert r.json() == {"predictions": [[3.0] * 10]}
    restore(server, repo)


def test_auto_on_a_model_a_pipeline_uses_is_gated(served: tuple[Server, Repo]) -> None:
    """OVMS's gated model changes: ``batch_size auto`` on a model a pipeline uses keeps the
    model's old config (the reload fails); in a file that also drops the pipeline, it applies."""
    server, repo = served

    def with_auto(pipelines: list[dict]) -> None:
        repo.write(["two"], pipelines)
        with open(repo.config) as f:
            doc = json.load(f)
        doc["model_config_list"].append({"config": {"name": "dummy", "base_path": "dummy", "batch_size": "auto"}})
        write_json(repo.config, doc)

    def batch_dim() -> int:
        meta = requests.get(server.url + "/v2/models/dummy", timeout=10).json()
        return int(meta["inputs"][0]["shape"][0])

    repo.write(["dummy", "two"], [CHAIN])
    assert reload(server)[0] in (200, 201)
    with_auto([CHAIN])
    code, body = reload(server)
    assert (code, body) == (500, {"error": E.CONFIG_RELOAD_FAILED.message})
    assert batch_dim() == 1 and status(server, "chain") == {"model_version_status": [entry("AVAILABLE")]}
    assert "Requested dynamic parameters but model is used in pipeline: dummy" in server.read_log()
    with_auto([])  # the same change, with the pipeline gone
    assert reload(server)[0] == 201
    assert batch_dim() == -1 and status(server, "chain") == {"model_version_status": [entry("END")]}
    restore(server, repo)


class SlowChain:
    """A server whose pipeline chains two nodes of a ~50 ms model (faults mid-pipeline)."""

    def __init__(self, slow_model: str, base: str, *flags: str) -> None:
        doc = {
            "model_config_list": [
                # f32: CPUs with AMX would run the stack in bf16, five times faster than assumed here
                {
                    "config": {
                        "name": "slow",
                        "base_path": slow_model,
                        "plugin_config": {"INFERENCE_PRECISION_HINT": "f32"},
                    }
                }
            ],
            "pipeline_config_list": [
                pipeline(
                    "slow2",
                    ["x"],
                    [
                        node("a", "slow", {"x": ("request", "x")}, {"y": "y"}),
                        node("b", "slow", {"x": ("a", "y")}, {"y": "y"}),
                    ],
                    {"y": ("b", "y")},
                )
            ],
        }
        config = os.path.join(base, "config.json")
        with open(config, "w") as f:
            json.dump(doc, f)
        args = ["--config_path", config, "--worker_processes", "1", "--front_processes", "1", *flags]
        self.server = Server(args, os.path.join(base, "slow.log"))
        self.server.wait_ready()

    def predict(self, timeout: float = 30) -> tuple[int, Any, float]:
        started = time.monotonic()
        url = self.server.url + "/v1/models/slow2:predict"
        r = requests.post(url, json={"inputs": [[1.0, 2, 3, 4]]}, timeout=timeout)
        return r.status_code, r.json(), time.monotonic() - started


def test_pipeline_deadline_is_a_fast_504(slow_model: str, tmp_path: Any) -> None:
    chain = SlowChain(slow_model, str(tmp_path), "--request_timeout_seconds", "0.02")
    try:
        code, body, took = chain.predict()
        assert code == 504 and body == {"error": E.DEADLINE_EXCEEDED.message} and took < 2.0
    finally:
        assert chain.server.stop() == 0


@pytest.mark.slow
def test_pipeline_survives_a_worker_kill_and_hung_up_clients(slow_model: str, tmp_path: Any) -> None:
    chain = SlowChain(slow_model, str(tmp_path))
    s = chain.server
    try:
        assert chain.predict()[:2] == (200, {"outputs": [[3.0, 4.0, 5.0, 6.0]]})
        worker = next(p for p in psutil.Process(s.proc.pid).children() if "ovserve.workers" in " ".join(p.cmdline()))
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(chain.predict) for _ in range(8)]
            time.sleep(0.15)
            worker.kill()
            results = [f.result() for f in futures]
        codes = sorted(code for code, _, _ in results)
        assert set(codes) <= {200, 503} and 503 in codes, codes  # in-flight ones fail fast, none hangs
        assert max(took for _, _, took in results) < 10
        deadline = time.monotonic() + 30
        while chain.predict()[0] != 200:  # the worker is respawned and loads the model again
            assert time.monotonic() < deadline
            time.sleep(0.2)

        assert impatient_clients(lambda: chain.predict(timeout=0.03), 48) > 24
        time.sleep(1.0)  # the abandoned nodes are skipped, not computed
        code, _, took = chain.predict()
        assert code == 200 and took < 1.0, took
        print(f"\npipeline faults: worker kill {codes}; after 48 hung-up clients the next answer took {took:.3f}s")
    finally:
        assert s.stop() == 0
        assert s.leftovers() == []


def test_reloads_that_break_pipelines_fail_as_ovms(served: tuple[Server, Repo]) -> None:
    """OVMS's reload outcomes around pipelines (src/modelmanager.cpp loadModels, then the
    pipelines revalidated in the same reload)."""
    server, repo = served
    repo.write(["dummy", "two"], [CHAIN, FAN])
    assert reload(server)[0] in (200, 201)
    # a model added with the name of a loaded pipeline: refused, the pipeline keeps its name
    with open(repo.config) as f:
        doc = json.load(f)
    doc["model_config_list"].append({"config": {"name": "chain", "base_path": "dummy"}})
    write_json(repo.config, doc)
    code, body = reload(server)
    assert (code, body) == (500, {"error": E.CONFIG_RELOAD_FAILED.message})
    assert status(server, "chain") == {"model_version_status": [entry("AVAILABLE")]}
    r = requests.post(server.url + "/v1/models/chain:predict", json={"instances": [[1.0] * 10]}, timeout=10)
    assert r.json() == {"predictions": [[3.0] * 10]}  # still the pipeline (dummy twice), not a model
    assert "Model name: chain is already occupied by pipeline or mediapipe graph definition." in server.read_log()
    # the same config again, unchanged: validated again, fails again
    assert reload(server)[0] == 500
    # a model added with the name of a retired pipeline: refused too
    repo.write(["dummy", "two"], [FAN])
    assert reload(server)[0] == 201
    assert status(server, "chain") == {"model_version_status": [entry("END")]}
    with open(repo.config) as f:
        doc = json.load(f)
    doc["model_config_list"].append({"config": {"name": "chain", "base_path": "dummy"}})
    write_json(repo.config, doc)
    assert reload(server)[0] == 500
    assert status(server, "chain") == {"model_version_status": [entry("END")]}
    # a pipeline pinned to a version that the same reload retires
    pinned = pipeline(
        "pinned", ["in"], [node("n", "dummy", {"b": ("request", "in")}, {"o": "a"}, version=1)], {"out": ("n", "o")}
    )
    repo.write(["dummy", "two"], [FAN, pinned])
    assert reload(server)[0] == 201
    assert status(server, "pinned") == {"model_version_status": [entry("AVAILABLE")]}
    with open(repo.config) as f:
        doc = json.load(f)
    doc["model_config_list"][0]["config"]["model_version_policy"] = {"specific": {"versions": [2]}}
    write_json(repo.config, doc)
    assert reload(server)[0] == 500
    assert status(server, "pinned") == {"model_version_status": [FAILED]}
    restore(server, repo)
