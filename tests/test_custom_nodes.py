"""Custom nodes (OVMS's C interface) on the real server, with a library the tests compile with
the system C compiler (tests/custom_nodes/add_sub.c): OVMS's own example pipeline, custom nodes
before and after a model, a custom demultiplexer, every load-time and run-time failure a
library can cause, and a library that crashes its front."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import ovmsclient
import pytest
import requests
from ovserve.shared import errors as E

from tests import modelgen
from tests.debian_tools import debian_tool
from tests.pipeline_util import custom_node, node, pipeline
from tests.server_util import Server, write_json

SOURCE = os.path.join(os.path.dirname(__file__), "custom_nodes", "add_sub.c")
IO = {"input_numbers": ("request", "x")}


def compile_library(out: str, *flags: str) -> str:
    cc = debian_tool("cc", "gcc")
    subprocess.run([cc, "-shared", "-fPIC", "-O2", *flags, "-o", out, SOURCE], check=True, timeout=120)
    return out


def one(name: str, params: dict[str, str], library: str = "lib_add_sub", **extra: Any) -> dict[str, Any]:
    """A pipeline of one custom node: x -> add_sub -> y."""
    return pipeline(
        name, ["x"], [custom_node("n", library, IO, {"o": "output_numbers"}, params, **extra)], {"y": ("n", "o")}
    )


OVMS_EXAMPLE = pipeline(  # OVMS's pipelineCustomNodeConfig (ensemble_flow_custom_node_tests.cpp)
    "custom",
    ["pipeline_input"],
    [
        custom_node(
            "custom_node",
            "lib_add_sub",
            {"input_numbers": ("request", "pipeline_input")},
            {"custom_node_output": "output_numbers"},
            {"add_value": "3.2", "sub_value": "2.7"},
        )
    ],
    {"pipeline_output": ("custom_node", "custom_node_output")},
)
SANDWICH = pipeline(  # custom (+1) -> dummy (+1) -> custom (-0.5)
    "sandwich",
    ["x"],
    [
        custom_node("pre", "lib_add_sub", IO, {"p": "output_numbers"}, {"add_value": "1"}),
        node("model", "dummy", {"b": ("pre", "p")}, {"m": "a"}),
        custom_node("post", "lib_add_sub", {"input_numbers": ("model", "m")}, {"q": "output_numbers"},
                    {"sub_value": "0.5"}),
    ],
    {"y": ("post", "q"), "mid": ("model", "m")},
)  # fmt: skip
DEMUX = pipeline(  # the library makes 3 shards, dummy runs on each, the response gathers them
    "custom_demux",
    ["x"],
    [
        custom_node("split", "lib_add_sub", IO, {"s": "output_numbers"}, {"demultiply": "3"}, demultiply_count=3),
        node("each", "dummy", {"b": ("split", "s")}, {"a": "a"}),
    ],
    {"y": ("each", "a")},
)
PIPELINES = [
    OVMS_EXAMPLE,
    SANDWICH,
    DEMUX,
    one("no_results", {"demultiply": "0"}, demultiply_count=-1),
    one("fail_execute", {"fail_execute": "1"}),
    one("bad_size", {"bad_size": "1"}),
    one("fail_init", {"fail_init": "1"}),
    one("fail_metadata", {"fail_metadata": "1"}),
    one("no_release", {}, library="lib_no_release"),
    one("unknown_library", {}, library="not_in_the_config"),
    one("missing_file", {}, library="lib_missing"),
]


def until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


class Repo:
    def __init__(self, base: str) -> None:
        self.base = base
        modelgen.dummy(os.path.join(base, "dummy"))
        compile_library(os.path.join(base, "add_sub.so"))
        compile_library(os.path.join(base, "no_release.so"), "-DNO_RELEASE")
        self.config = os.path.join(base, "config.json")

    def write(self, pipelines: list[dict[str, Any]]) -> None:
        doc = {
            "model_config_list": [{"config": {"name": "dummy", "base_path": "dummy"}}],
            "custom_node_library_config_list": [
                {"name": "lib_add_sub", "base_path": "add_sub.so"},  # relative to the config's folder
                {"name": "lib_no_release", "base_path": "no_release.so"},
                {"name": "lib_missing", "base_path": "nothing_here.so"},
            ],
            "pipeline_config_list": pipelines,
        }
        write_json(self.config, doc)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Repo]]:
    repo = Repo(str(tmp_path_factory.mktemp("custom")))
    repo.write(PIPELINES)
    args = ["--config_path", repo.config, "--file_system_poll_wait_seconds", "0", "--front_processes", "2"]
    server = Server(args, str(tmp_path_factory.mktemp("logs") / "custom.log"), grpc=True)
    try:
        server.wait_ready()
        yield server, repo
    finally:
        assert server.stop() == 0


def status(server: Server, name: str) -> Any:
    return requests.get(f"{server.url}/v1/models/{name}", timeout=10).json()["model_version_status"][0]


def predict(server: Server, name: str, body: Any) -> requests.Response:
    return requests.post(f"{server.url}/v1/models/{name}:predict", json=body, timeout=30)


def test_ovms_example_served_by_every_protocol(served: tuple[Server, Repo]) -> None:
    server, _ = served
    assert status(server, "custom")["state"] == "AVAILABLE"
    meta = requests.get(f"{server.url}/v1/models/custom/metadata", timeout=10).json()
    sig = meta["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    dims = [int(d["size"]) for d in sig["inputs"]["pipeline_input"]["tensorShape"]["dim"]]
    assert dims == [1, -1] and sig["inputs"]["pipeline_input"]["dtype"] == "DT_FLOAT"  # a 0 dim: dynamic
    assert sorted(sig["outputs"]) == ["pipeline_output"]
    x = [[1.0, 2.0, 3.0, 4.0, 5.0]]
    r = predict(server, "custom", {"inputs": x})
    assert r.status_code == 200
    assert np.allclose(r.json()["outputs"], np.array(x) + 3.2 - 2.7, atol=1e-5)
    body: dict[str, Any] = {
        "inputs": [{"name": "pipeline_input", "shape": [1, 3], "datatype": "FP32", "data": [0, 1, 2]}]
    }
    kserve = requests.post(f"{server.url}/v2/models/custom/infer", json=body, timeout=10).json()
    assert kserve["model_name"] == "custom" and kserve["model_version"] == "1"
    assert np.allclose(kserve["outputs"][0]["data"], [0.5, 1.5, 2.5], atol=1e-5)
    assert kserve["outputs"][0]["shape"] == [1, 3]
    client = ovmsclient.make_grpc_client(f"127.0.0.1:{server.grpc_port}")
    out = client.predict(inputs={"pipeline_input": np.zeros((1, 7), np.float32)}, model_name="custom")
    assert np.allclose(out, np.full((1, 7), 0.5), atol=1e-5)
    wrong = predict(server, "custom", {"inputs": [[[1.0]]]})  # rank 3, the library takes [1, any]
    assert wrong.status_code == 400 and wrong.json()["error"].startswith(E.INVALID_NO_OF_SHAPE_DIMENSIONS.message)


def test_custom_nodes_around_a_model_and_concurrent_runs(served: tuple[Server, Repo]) -> None:
    server, _ = served
    x = np.arange(10, dtype=np.float32).reshape(1, 10)
    r = predict(server, "sandwich", {"inputs": {"x": x.tolist()}}).json()["outputs"]
    assert np.allclose(r["mid"], x + 2) and np.allclose(r["y"], x + 1.5)

    def call(k: int) -> bool:
        v = np.full((1, 10), float(k), np.float32)
        out = predict(server, "sandwich", {"inputs": {"x": v.tolist()}}).json()["outputs"]
        return bool(np.allclose(out["y"], v + 1.5))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(call, range(200)))


def test_custom_demultiplexer(served: tuple[Server, Repo]) -> None:
    server, _ = served
    meta = requests.get(f"{server.url}/v2/models/custom_demux", timeout=10).json()
    assert meta["outputs"][0]["shape"] == [3, 1, 10]
    r = predict(server, "custom_demux", {"inputs": [[1.0] * 10]})
    assert r.status_code == 200 and r.json() == {"outputs": [[[2.0 + k] * 10] for k in range(3)]}
    empty = predict(server, "no_results", {"inputs": [[1.0] * 10]})
    assert empty.status_code == 204 and empty.content == b""  # OVMS: no content from the custom node


def test_run_time_failures(served: tuple[Server, Repo]) -> None:
    server, _ = served
    for name, status_ in (
        ("fail_execute", E.NODE_LIBRARY_EXECUTION_FAILED),
        ("bad_size", E.NODE_LIBRARY_INVALID_CONTENT_SIZE),
    ):
        r = predict(server, name, {"inputs": [[1.0, 2.0]]})
        assert (r.status_code, r.json()) == (500, {"error": status_.message}), name
    assert predict(server, "custom", {"inputs": [[1.0]]}).status_code == 200  # the fronts are fine


def test_load_time_failures(served: tuple[Server, Repo]) -> None:
    server, repo = served
    failed = {"version": "1", "state": "LOADING",
              "status": {"error_code": "FAILED_PRECONDITION", "error_message": "FAILED_PRECONDITION"}}  # fmt: skip
    for name in ("fail_init", "fail_metadata", "no_release", "unknown_library", "missing_file"):
        assert status(server, name) == failed, name
        r = predict(server, name, {"inputs": [[1.0]]})
        assert (r.status_code, r.json()) == (404, {"error": E.PIPELINE_DEFINITION_NOT_LOADED_YET.message})
    log = server.read_log()
    assert f"Initialization of library with base path: {os.path.join(repo.base, 'add_sub.so')} failed" in log
    assert "failed to load symbol: release" in log
    for name in ("no_release", "unknown_library", "missing_file"):
        assert f"Pipeline: {name} node: n refers to invalid library" in log
    assert "failed on inputs metadata call" in log


def test_reload_deinitializes_removed_nodes(served: tuple[Server, Repo]) -> None:
    server, repo = served
    assert predict(server, "custom", {"inputs": [[1.0]]}).status_code == 200  # initialized in a front
    repo.write([SANDWICH, DEMUX])  # every failing pipeline and the example removed
    r = requests.post(f"{server.url}/v1/config/reload", timeout=60)
    assert r.status_code == 201
    assert status(server, "custom")["state"] == "END"
    assert until(lambda: "add_sub: deinitialize add=3.2 sub=2.7" in server.read_log(), 10)
    assert requests.post(f"{server.url}/v1/config/reload", timeout=60).status_code == 200  # unchanged
    x = np.zeros((1, 10), np.float32)
    assert np.allclose(predict(server, "sandwich", {"inputs": {"x": x.tolist()}}).json()["outputs"]["y"], x + 1.5)
    repo.write(PIPELINES)  # the module's other tests find the pipelines they expect, in any order
    # 500: the module's config holds the pipelines that fail validation on purpose, as at start
    assert requests.post(f"{server.url}/v1/config/reload", timeout=60).status_code == 500
    assert status(server, "custom")["state"] == "AVAILABLE"


def test_a_slow_library_meets_the_deadline_and_a_crashing_one_costs_only_its_front(tmp_path: Any) -> None:
    repo = Repo(str(tmp_path))
    repo.write([one("crash", {"crash": "1"}), one("slow", {"sleep_ms": "3000"}), OVMS_EXAMPLE])
    args = ["--config_path", repo.config, "--file_system_poll_wait_seconds", "0", "--front_processes", "1",
            "--request_timeout_seconds", "1"]  # fmt: skip
    with Server(args, str(tmp_path / "crash.log")) as server:
        server.wait_ready()
        started = time.monotonic()
        slow = predict(server, "slow", {"inputs": [[1.0]]})
        assert (slow.status_code, slow.json()) == (504, {"error": E.DEADLINE_EXCEEDED.message})
        assert time.monotonic() - started < 2.5
        assert predict(server, "custom", {"inputs": [[1.0]]}).status_code == 200  # while the slow call sleeps on
        with pytest.raises(requests.ConnectionError):
            predict(server, "crash", {"inputs": [[1.0]]})
        assert until(lambda: "front 0" in server.read_log() and "exited with status -11" in server.read_log(), 10)

        def served() -> bool:
            try:
                return predict(server, "custom", {"inputs": [[1.0]]}).status_code == 200
            except requests.ConnectionError:
                return False

        assert until(served, 30)  # a new front serves
