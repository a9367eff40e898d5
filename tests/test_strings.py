"""String tensors (OpenVINO STRING precision) over every protocol: TFS REST strings and ``b64``
(and ``_bytes`` outputs as base64), KServe BYTES in JSON and the binary extension, TFS gRPC
``string_val``, KServe gRPC ``bytes_contents`` and raw contents; through shared memory to the
worker and back (``shared.strings``), with OVMS's shape and count checks."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import ovmsclient
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from tests import modelgen
from tests.server_util import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("string_models")
    modelgen.strings(str(base / "text"))
    modelgen.strings(str(base / "grid"), [2, 2], name="cells")
    modelgen.strings(str(base / "blob"), name="blob_bytes")
    modelgen.strings2d(str(base / "text2d"))
    names = ("text", "grid", "blob", "text2d")
    config = {"model_config_list": [{"config": {"name": n, "base_path": str(base / n)}} for n in names]}
    (base / "config.json").write_text(json.dumps(config))
    log = str(tmp_path_factory.mktemp("logs") / "strings.log")
    s = Server(["--config_path", str(base / "config.json")], log, grpc=True)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def post(s: Server, path: str, body: Any) -> requests.Response:
    return requests.post(s.url + path, json=body, timeout=30)


def test_tfs_rest_strings_byte_exact(server: Server) -> None:
    r = post(server, "/v1/models/text:predict", {"instances": ["Hello", "World"]})
    assert r.status_code == 200 and r.text == '{\n    "predictions": ["Hello", "World"\n    ]\n}'  # json_tensor.cc
    r = post(server, "/v1/models/text:predict", {"inputs": {"text": ["Hello"]}})
    assert r.status_code == 200 and r.text == '{\n    "outputs": [\n        "Hello"\n    ]\n}'
    r = post(server, "/v1/models/text:predict", {"instances": [{"b64": "AAEC"}, "z\u00e9"]})
    assert r.status_code == 200 and r.json()["predictions"] == ["\x00\x01\x02", "z\u00e9"]
    r = post(server, "/v1/models/blob:predict", {"instances": [{"b64": "/wE="}, "ab"]})
    assert r.json()["predictions"] == [{"b64": "/wE="}, {"b64": "YWI="}]  # a *_bytes output: base64
    meta = requests.get(server.url + "/v1/models/text/metadata", timeout=10).json()
    tensor = meta["metadata"]["signature_def"]["signatureDef"]["serving_default"]["inputs"]["text"]
    assert tensor["dtype"] == "DT_STRING"


def test_2d_strings_both_ways(server: Server) -> None:
    """A U8 [-1,-1] input takes strings as a zero-padded matrix; an output named *_string goes
    back to strings (each row up to its first zero), as OVMS."""
    r = post(server, "/v1/models/text2d:predict", {"instances": ["abc", "d", ""]})
    assert r.status_code == 200 and r.json() == {"predictions": ["abc", "d", ""]}
    ovms = ovmsclient.make_grpc_client(f"127.0.0.1:{server.grpc_port}")
    assert ovms.predict(inputs={"text": [b"xy", b"z"]}, model_name="text2d").tolist() == [b"xy", b"z"]


def test_kserve_json_and_binary(server: Server) -> None:
    doc = {"inputs": [{"name": "cells", "shape": [2, 2], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}
    r = post(server, "/v2/models/grid/infer", doc)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert (out["shape"], out["datatype"], out["data"]) == ([2, 2], "BYTES", ["a", "b", "c", "d"])
    http = triton_http.InferenceServerClient(f"127.0.0.1:{server.port}")
    tensor = triton_http.InferInput("text", [3], "BYTES")
    tensor.set_data_from_numpy(np.array([b"p", b"", b"\xffq"], dtype=object), binary_data=True)
    wanted = triton_http.InferRequestedOutput("text", binary_data=True)
    assert http.infer("text", [tensor], outputs=[wanted]).as_numpy("text").tolist() == [b"p", b"", b"\xffq"]
    meta = http.get_model_metadata("text")
    assert meta["inputs"][0]["datatype"] == "BYTES"


def test_grpc_clients(server: Server) -> None:
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    tensor = triton_grpc.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(np.array([b"x" * 100_000, b"\x00y"], dtype=object))
    assert grpc.infer("text", [tensor]).as_numpy("text").tolist() == [b"x" * 100_000, b"\x00y"]
    ovms = ovmsclient.make_grpc_client(f"127.0.0.1:{server.grpc_port}")
    assert ovms.predict(inputs={"text": [b"one", b"two"]}, model_name="text").tolist() == [b"one", b"two"]
    assert ovms.get_model_metadata(model_name="text")["inputs"]["text"]["dtype"] == "DT_STRING"


def test_many_and_large_strings_round_trip(server: Server) -> None:
    items = [bytes([i % 251]) * (i * 37 % 1000) for i in range(2000)]  # beyond the output reservation
    body: dict[str, Any] = {"inputs": [{"name": "text", "shape": [len(items)], "datatype": "BYTES", "parameters": {}}]}
    raw = b"".join(struct.pack("<I", len(i)) + i for i in items)
    body["inputs"][0]["parameters"]["binary_data_size"] = len(raw)
    head = json.dumps(body).encode()
    r = requests.post(
        server.url + "/v2/models/text/infer",
        data=head + raw,
        headers={"Inference-Header-Content-Length": str(len(head))},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["outputs"][0]["data"]) == len(items)


@pytest.mark.parametrize(
    ("path", "body", "code", "message"),
    [
        (
            "/v2/models/grid/infer",
            {"inputs": [{"name": "cells", "shape": [2, 2], "datatype": "BYTES", "data": ["a", "b", "c"]}]},
            400,
            "Invalid number of values in tensor proto container - Expected: 4 values; Actual: 3 values; "
            "input name: cells",
        ),
        (
            "/v2/models/grid/infer",
            {"inputs": [{"name": "cells", "shape": [4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]},
            400,
            "Invalid number of shape dimensions - Expected: (2,2); Actual: (4); input name: cells",
        ),
        (
            "/v1/models/text:predict",
            {"instances": [1, 2]},
            400,
            "Could not parse instance content. Not valid ndarray detected",
        ),
        (
            "/v1/models/text:predict",
            {"instances": ["a", 2]},
            400,
            "Could not parse instance content. Not valid ndarray detected",
        ),
        (
            "/v2/models/text/infer",
            {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
            400,
            "Invalid input precision - Expected: STRING; Actual: FP32; input name: text",
        ),
    ],
)
def test_bad_string_requests(server: Server, path: str, body: object, code: int, message: str) -> None:
    r = post(server, path, body)
    assert (r.status_code, r.json()) == (code, {"error": message})
    assert post(server, "/v1/models/text:predict", {"instances": ["ok"]}).json() == {"predictions": ["ok"]}
