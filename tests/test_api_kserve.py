"""KServe v2 REST on the real server: health, metadata, ready, infer in JSON and in the binary
extension, every numeric datatype, and OVMS's error codes and texts."""

from __future__ import annotations

import json
import os
import struct
import time
from typing import Any

import numpy as np
import pytest
import requests
from ovserve.shared.signature import kserve_datatype, numpy_dtype

from tests.conftest import TYPED
from tests.server_util import Server

X = [float(i) for i in range(10)]


def infer(
    server: Server, model: str, body: object, version: str = "", headers: dict | None = None
) -> requests.Response:
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(server.url + path, data=data, headers=headers or {}, timeout=30)


def dummy_input(**fields: object) -> dict[str, Any]:
    return {"inputs": [{"name": "b", "shape": [1, 10], "datatype": "FP32", **fields}]}


def binary_body(doc: dict, *parts: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(doc).encode()
    return head + b"".join(parts), {"Inference-Header-Content-Length": str(len(head))}


def test_health_and_server_metadata(config_server: Server) -> None:
    for path in ("/v2/health/live", "/v2/health/ready"):
        r = requests.get(config_server.url + path, timeout=5)
        assert (r.status_code, r.content) == (200, b"")
    r = requests.get(config_server.url + "/v2", timeout=5)
    assert r.status_code == 200
    assert r.json()["name"] == "OpenVINO Model Server" and set(r.json()) == {"name", "version"}
    assert r.headers["content-type"] == "application/json"
    r = requests.post(config_server.url + "/v2/health/live", timeout=5)
    assert (r.status_code, r.json()) == (406, {"error": "Unsupported method"})
    r = requests.get(config_server.url + "/v2/models/dummy/infer", timeout=5)
    assert (r.status_code, r.json()) == (406, {"error": "Unsupported method"})


def test_model_metadata_exact(config_server: Server) -> None:
    r = requests.get(config_server.url + "/v2/models/dummy", timeout=5)
    assert r.text == (
        '{"name":"dummy","versions":["1"],"platform":"OpenVINO",'
        '"inputs":[{"name":"b","datatype":"FP32","shape":[1,10]}],'
        '"outputs":[{"name":"a","datatype":"FP32","shape":[1,10]}]}'
    )
    assert requests.get(config_server.url + "/v2/models/dummy/", timeout=5).text == r.text
    two = requests.get(config_server.url + "/v2/models/two/versions/1", timeout=5).json()
    assert two["inputs"] == [
        {"name": "a", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "b", "datatype": "INT32", "shape": [-1, 2]},
    ]
    assert requests.get(config_server.url + "/v2/models/scalar", timeout=5).json()["inputs"][0]["shape"] == []
    versioned = requests.get(config_server.url + "/v2/models/versioned/versions/1", timeout=5).json()
    assert versioned["name"] == "versioned" and versioned["versions"] == ["1", "2"]


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/v2/models/nope/ready", 404, "Model with requested name is not found"),
        ("/v2/models/nope", 404, "Model with requested name is not found"),
        ("/v2/models/dummy/versions/7/ready", 404, "Model with requested version is not found"),
        ("/v2/models/dummy/versions/0/ready", 404, "Model with requested version is not found"),
        ("/v2/models/versioned/versions/3/ready", 404, "Model with requested version is not loaded yet"),
        ("/v2/models/versioned/versions/3", 404, "Model with requested version is not loaded yet"),
        ("/v2/models/empty/ready", 404, "Model with requested version is not found"),
    ],
)
def test_ready_and_metadata_errors(config_server: Server, path: str, code: int, message: str) -> None:
    r = requests.get(config_server.url + path, timeout=5)
    assert (r.status_code, r.json()) == (code, {"error": message})


def test_model_ready(config_server: Server) -> None:
    for path in (
        "/v2/models/dummy/ready",
        "/v2/models/dummy/versions/1/ready",
        "/v2/models/versioned/versions/2/ready",
    ):
        r = requests.get(config_server.url + path, timeout=5)
        assert (r.status_code, r.content) == (200, b""), path


def test_infer_json_exact_bytes(config_server: Server) -> None:
    r = infer(config_server, "dummy", {"id": "req-1", **dummy_input(data=[[0.1, 1, 2, 3, 4, 5, 6, 7, 8, 9]])})
    assert r.status_code == 200
    assert r.text == (
        "{\n"
        '    "model_name": "dummy",\n'
        '    "id": "req-1",\n'
        '    "model_version": "1",\n'
        '    "outputs": [{\n'
        '            "name": "a",\n'
        '            "shape": [1, 10],\n'
        '            "datatype": "FP32",\n'
        '            "data": [1.100000023841858, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]\n'
        "        }]\n"
        "}"
    )
    assert "inference-header-content-length" not in r.headers


def test_infer_versions(config_server: Server) -> None:
    body = {"inputs": [{"name": "b", "shape": [1, 10], "datatype": "FP32", "data": [0] * 10}]}
    assert infer(config_server, "versioned", body).json()["outputs"][0]["data"] == [2.0] * 10
    r = infer(config_server, "versioned", body, "1").json()
    assert r["model_version"] == "1" and r["outputs"][0]["data"] == [1.0] * 10


@pytest.mark.parametrize("element", ["f32", *TYPED])
def test_infer_every_datatype_json_and_binary(config_server: Server, element: str) -> None:
    model = "dummy" if element == "f32" else f"t_{element}"
    datatype = kserve_datatype(element)
    dtype = numpy_dtype(element)
    assert dtype is not None
    if element == "f32":
        x = np.arange(10, dtype=np.float32).reshape(1, 10)
        expected = x + 1
        name, out = "b", "a"
    else:
        x = (np.array([[True, False, True, False]]) if dtype == np.bool_ else np.array([[1, 2, 3, 4]])).astype(dtype)
        expected = np.logical_not(x) if dtype == np.bool_ else x + x
        name, out = "x", "y"
    tensor = {"name": name, "shape": list(x.shape), "datatype": datatype}
    if element != "f16":  # FP16 has no JSON form
        r = infer(config_server, model, {"inputs": [{**tensor, "data": x.tolist()}]})
        assert r.status_code == 200, r.text
        got = r.json()["outputs"][0]
        assert got["datatype"] == datatype and got["shape"] == list(x.shape)
        assert np.array_equal(np.array(got["data"], dtype=dtype).reshape(x.shape), expected)
    doc = {"inputs": [{**tensor, "parameters": {"binary_data_size": x.nbytes}}], "outputs": [{"name": out}]}
    doc["parameters"] = {"binary_data_output": True}
    body, headers = binary_body(doc, x.tobytes())
    r = infer(config_server, model, body, headers=headers)
    assert r.status_code == 200, r.text
    split = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:split])
    assert head["outputs"][0]["parameters"] == {"binary_data_size": expected.nbytes}
    assert "data" not in head["outputs"][0]
    assert np.array_equal(np.frombuffer(r.content[split:], dtype=dtype).reshape(x.shape), expected)


def test_mixed_json_and_binary_inputs_and_outputs(config_server: Server) -> None:
    a = np.array([[1.5, 2.5, -1.0], [0.0, 1.0, 2.0]], np.float32)
    doc = {
        "inputs": [
            {"name": "a", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": a.nbytes}},
            {"name": "b", "shape": [2, 2], "datatype": "INT32", "data": [1, -2, 3, 4]},
        ],
        "outputs": [{"name": "sum", "parameters": {"binary_data": True}}],
    }
    body, headers = binary_body(doc, a.tobytes())
    r = infer(config_server, "two", body, headers=headers)
    assert r.status_code == 200, r.text
    split = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:split])
    by_name = {o["name"]: o for o in head["outputs"]}
    assert set(by_name) == {"sum", "neg"}  # every output comes back, as OVMS answers
    assert by_name["neg"]["data"] == [-1, 2, -3, -4] and by_name["neg"]["datatype"] == "INT32"
    assert np.array_equal(np.frombuffer(r.content[split:], np.float32).reshape(2, 3), a * 2)


def test_binary_input_size_from_shape(config_server: Server) -> None:
    x = np.full((1, 10), 3.0, np.float32)
    body, headers = binary_body(dummy_input(), x.tobytes())  # no binary_data_size: shape x 4 bytes
    r = infer(config_server, "dummy", body, headers=headers)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [4.0] * 10


@pytest.mark.parametrize(
    ("model", "body", "code", "message"),
    [
        ("nope", dummy_input(data=X), 404, "Mediapipe graph definition with requested name is not found"),
        ("dummy", dummy_input(data=X), 200, None),
        ("dummy", dummy_input(datatype="INT32", data=list(range(10))), 400,
         "Invalid input precision - Expected: FP32; Actual: INT32; input name: b"),
        ("dummy", dummy_input(data=["x"] * 10), 400, "Could not parse input content. Not valid ndarray detected"),
        ("dummy", dummy_input(shape=[1, 3], data=[1, 2, 3]), 400,
         "Invalid input shape - Expected: (1,10); Actual: (1,3); input name: b"),
        ("dummy", dummy_input(shape=[2, 10], data=X * 2), 400,
         "Invalid input batch size - Expected: 1; Actual: 2; input name: b"),
        ("dummy", dummy_input(shape=[10], data=X), 400,
         "Invalid number of shape dimensions - Expected: (1,10); Actual: (10); input name: b"),
        ("dummy", dummy_input(data=X[:9]), 400,
         "Invalid number of values in tensor proto container - Expected: 10 values; Actual: 9 values; input name: b"),
        ("dummy", {"inputs": [{"name": "c", "shape": [1, 10], "datatype": "FP32", "data": X}]}, 400,
         "Missing input with specific name - Required input: b"),
        ("dummy", {"inputs": dummy_input(data=X)["inputs"] * 2}, 400,
         "Invalid number of inputs - Expected: 1; Actual: 2"),
        ("dummy", {"inputs": []}, 400, "Invalid JSON structure, missing inputs"),
        ("dummy", b"", 412, "The file is not valid json - Error: The document is empty. Offset: 0"),
        ("dummy", b'{"inputs": notValid}', 412, "The file is not valid json - Error: Invalid value. Offset: 12"),
        ("dummy", b"[" * 101 + b"]" * 101, 500, "JSON nesting depth exceeds the allowed limit"),
        ("versioned", dummy_input(data=X), 200, None),
    ],
)  # fmt: skip
def test_infer_errors(config_server: Server, model: str, body: object, code: int, message: str | None) -> None:
    r = infer(config_server, model, body)
    assert r.status_code == code, r.text
    if message is not None:
        assert r.json() == {"error": message}


def test_infer_unknown_version(config_server: Server) -> None:
    r = infer(config_server, "dummy", dummy_input(data=X), "9")
    assert (r.status_code, r.json()) == (404, {"error": "Model with requested version is not found"})


@pytest.mark.parametrize(
    ("header", "cut", "code", "message"),
    [
        ("abc", 0, 500, "Inference-Header-Content-Length header is invalid and couldn't be parsed"),
        ("-5", 0, 500, "Inference-Header-Content-Length header is invalid and couldn't be parsed"),
        ("100000", 0, 500, "Inference-Header-Content-Length header exceeds actual payload length"),
        (None, 4, 400, "Received buffer size is smaller than binary_data_size parameter indicates"),
        ("0", 0, 412, "The file is not valid json - Error: The document is empty. Offset: 0"),
    ],
)
def test_binary_header_errors(config_server: Server, header: str | None, cut: int, code: int, message: str) -> None:
    doc = dummy_input(parameters={"binary_data_size": 40})
    head = json.dumps(doc).encode()
    raw = np.zeros(10, np.float32).tobytes()
    body = head + raw[: len(raw) - cut]
    r = infer(config_server, "dummy", body, headers={"Inference-Header-Content-Length": header or str(len(head))})
    assert (r.status_code, r.json()) == (code, {"error": message})


@pytest.mark.parametrize(
    ("model", "name", "text", "code", "message"),
    [
        ("dummy", "b", b"Hello", 500, "Functionality not implemented"),  # BYTES fits no use of FP32 [1,10]
        # a U8 [1,4] input takes strings as a zero-terminated byte matrix: [1,6] does not fit
        ("t_u8", "x", b"Hello", 400, "Invalid input shape - Expected: (1,4); Actual: (1,6); input name: x"),
    ],
)
def test_bytes_inputs(config_server: Server, model: str, name: str, text: bytes, code: int, message: str) -> None:
    raw = struct.pack("<I", len(text)) + text
    doc = {"inputs": [{"name": name, "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}]}
    body, headers = binary_body(doc, raw)
    r = infer(config_server, model, body, headers=headers)
    assert (r.status_code, r.json()) == (code, {"error": message})


def test_bytes_as_a_2d_string(config_server: Server) -> None:
    raw = struct.pack("<I", 3) + b"Hel"  # [1, 3 + 1]: fits t_u8's [1,4]; the model doubles it
    doc = {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}]}
    body, headers = binary_body(doc, raw)
    r = infer(config_server, "t_u8", body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [(2 * c) % 256 for c in b"Hel\0"]


def test_ready_is_503_until_the_initial_loads_finish(repo: str, tmp_path: object) -> None:
    """30 models on one worker take seconds to load: live answers at once, ready only after."""
    models = [{"config": {"name": f"m{i}", "base_path": os.path.join(repo, "dummy")}} for i in range(30)]
    config = os.path.join(str(tmp_path), "config.json")
    with open(config, "w") as f:
        json.dump({"model_config_list": models}, f)
    server = Server(["--config_path", config, "--worker_processes", "1", "--front_processes", "1"], f"{tmp_path}/log")
    try:
        seen = []
        for _ in range(600):
            try:
                live = requests.get(server.url + "/v2/health/live", timeout=2).status_code
                ready = requests.get(server.url + "/v2/health/ready", timeout=2)
            except requests.ConnectionError:  # the fronts are not up yet
                time.sleep(0.05)
                continue
            seen.append((live, ready.status_code))
            if ready.status_code == 200:
                break
            assert ready.json() == {"error": "Server is not ready"}
        assert seen[0] == (200, 503) and seen[-1] == (200, 200), seen[:3]
        assert infer(server, "m29", dummy_input(data=X)).status_code == 200
    finally:
        assert server.stop() == 0
