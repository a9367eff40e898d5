"""``mapping_config.json``: public names for a model's inputs and outputs in metadata, requests
(row, column, named) and answers, over TFS REST, KServe REST, TFS gRPC (ovmsclient) and KServe
gRPC (tritonclient); a broken mapping file is logged and ignored; the config's shapes must use
the public name of a mapped input, as in OVMS."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import ovmsclient
import pytest
import requests
import tritonclient.grpc as grpcclient

from tests import modelgen
from tests.server_util import Server

MAPPING = {"inputs": {"a": "alpha"}, "outputs": {"sum": "total"}}


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = str(tmp_path_factory.mktemp("mapping"))
    folder = modelgen.two_in_two_out(os.path.join(base, "two"))
    with open(os.path.join(folder, "mapping_config.json"), "w") as f:
        json.dump(MAPPING, f)
    folder = modelgen.dummy(os.path.join(base, "dummy"))
    with open(os.path.join(folder, "mapping_config.json"), "w") as f:
        json.dump({"inputs": {"b": "input"}, "outputs": {"a": "output"}}, f)
    folder = modelgen.dummy(os.path.join(base, "broken"))
    with open(os.path.join(folder, "mapping_config.json"), "w") as f:
        json.dump({"inputs": {"b": "input"}, "extra": {}}, f)  # breaks the schema: ignored
    shutil.copytree(os.path.join(base, "two"), os.path.join(base, "shaped_real"))
    shutil.copytree(os.path.join(base, "two"), os.path.join(base, "shaped_public"))
    models: list[dict[str, Any]] = [{"config": {"name": n, "base_path": n}} for n in ("two", "dummy", "broken")]
    models.append({"config": {"name": "shaped_real", "base_path": "shaped_real", "shape": {"a": "(4,3)"}}})
    models.append({"config": {"name": "shaped_public", "base_path": "shaped_public", "shape": {"alpha": "(4,3)"}}})
    config = os.path.join(base, "config.json")
    with open(config, "w") as f:
        json.dump({"model_config_list": models}, f)
    server = Server(["--config_path", config], str(tmp_path_factory.mktemp("logs") / "mapping.log"), grpc=True)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_metadata_shows_public_names(mapped: Server) -> None:
    meta = requests.get(mapped.url + "/v1/models/two/metadata", timeout=10).json()
    sig = meta["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    assert sorted(sig["inputs"]) == ["alpha", "b"] and sig["inputs"]["alpha"]["name"] == "alpha"
    assert sorted(sig["outputs"]) == ["neg", "total"] and sig["outputs"]["total"]["name"] == "total"
    v2 = requests.get(mapped.url + "/v2/models/two", timeout=10).json()
    assert [t["name"] for t in v2["inputs"]] == ["alpha", "b"]
    assert sorted(t["name"] for t in v2["outputs"]) == ["neg", "total"]


def test_predict_with_public_names(mapped: Server) -> None:
    column: dict[str, Any] = {"inputs": {"alpha": [[1.0, 2.0, 3.0]], "b": [[1, 2]]}}
    r = requests.post(mapped.url + "/v1/models/two:predict", json=column, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"outputs": {"total": [[2.0, 4.0, 6.0]], "neg": [[-1, -2]]}}
    row: dict[str, Any] = {"instances": [{"alpha": [1.0, 1.0, 1.0], "b": [3, 4]}]}
    r = requests.post(mapped.url + "/v1/models/two:predict", json=row, timeout=10)
    assert r.json() == {"predictions": [{"total": [2.0, 2.0, 2.0], "neg": [-3, -4]}]}
    real: dict[str, Any] = {"inputs": {"a": [[1.0, 2.0, 3.0]], "b": [[1, 2]]}}  # the real name is not accepted
    r = requests.post(mapped.url + "/v1/models/two:predict", json=real, timeout=10)
    assert r.status_code == 400 and "error" in r.json()
    single = requests.post(mapped.url + "/v1/models/dummy:predict", json={"instances": [[1.0] * 10]}, timeout=10)
    assert single.json() == {"predictions": [[2.0] * 10]}
    named = requests.post(mapped.url + "/v1/models/dummy:predict", json={"inputs": {"input": [[1.0] * 10]}}, timeout=10)
    assert named.json() == {"outputs": [[2.0] * 10]}  # one output: unnamed, as for any model
    kserve: dict[str, Any] = {
        "inputs": [
            {"name": "alpha", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]},
            {"name": "b", "shape": [1, 2], "datatype": "INT32", "data": [5, 6]},
        ]
    }
    r = requests.post(mapped.url + "/v2/models/two/infer", json=kserve, timeout=10).json()
    assert {o["name"]: o["data"] for o in r["outputs"]} == {"total": [2.0, 4.0, 6.0], "neg": [-5, -6]}


def test_grpc_clients_use_public_names(mapped: Server) -> None:
    client = ovmsclient.make_grpc_client(f"127.0.0.1:{mapped.grpc_port}")
    meta = client.get_model_metadata(model_name="two")
    assert sorted(meta["inputs"]) == ["alpha", "b"] and sorted(meta["outputs"]) == ["neg", "total"]
    out = client.predict(
        inputs={"alpha": np.ones((2, 3), np.float32), "b": np.ones((2, 2), np.int32)}, model_name="two"
    )
    assert np.array_equal(out["total"], np.full((2, 3), 2.0)) and np.array_equal(out["neg"], -np.ones((2, 2)))
    triton = grpcclient.InferenceServerClient(f"127.0.0.1:{mapped.grpc_port}")
    alpha = grpcclient.InferInput("alpha", [1, 3], "FP32")
    alpha.set_data_from_numpy(np.array([[1, 2, 3]], np.float32))
    b = grpcclient.InferInput("b", [1, 2], "INT32")
    b.set_data_from_numpy(np.array([[7, 8]], np.int32))
    result = triton.infer("two", [alpha, b])
    assert np.array_equal(result.as_numpy("total"), [[2, 4, 6]]) and np.array_equal(result.as_numpy("neg"), [[-7, -8]])


def test_broken_mapping_file_is_ignored(mapped: Server) -> None:
    meta = requests.get(mapped.url + "/v2/models/broken", timeout=10).json()
    assert [t["name"] for t in meta["inputs"]] == ["b"]  # served with the model's own names
    assert "Model: broken mapping configuration file is not a valid JSON file." in mapped.read_log()


def test_config_shapes_use_public_names(mapped: Server) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = requests.get(mapped.url + "/v1/models/shaped_real", timeout=10).json()
        if status["model_version_status"][0]["status"]["error_code"] != "OK":
            break
        time.sleep(0.1)
    assert status["model_version_status"][0]["state"] == "LOADING"  # failed, as OVMS
    assert "Shape from config has real name. Use mapped name instead" in mapped.read_log()
    meta = requests.get(mapped.url + "/v2/models/shaped_public", timeout=10).json()
    assert [t["shape"] for t in meta["inputs"] if t["name"] == "alpha"] == [[4, 3]]
