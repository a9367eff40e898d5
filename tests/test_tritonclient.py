"""Triton's HTTP client (``tritonclient.http``), unchanged, against the KServe v2 REST API: health,
metadata, and infer with JSON and binary inputs and outputs, exact outputs."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.server_util import Server


@pytest.fixture(scope="module")
def client(config_server: Server) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(f"127.0.0.1:{config_server.port}")


def test_health_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("dummy") and client.is_model_ready("versioned", "2")
    assert not client.is_model_ready("nope")
    assert client.get_server_metadata()["name"] == "OpenVINO Model Server"
    meta = client.get_model_metadata("two")
    assert meta["platform"] == "OpenVINO" and meta["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["outputs"]] == [
        ("neg", "INT32", [-1, 2]),
        ("sum", "FP32", [-1, 3]),
    ]


@pytest.mark.parametrize("binary_in", [False, True])
@pytest.mark.parametrize("binary_out", [False, True])
def test_infer_two_inputs_two_outputs(
    client: httpclient.InferenceServerClient, binary_in: bool, binary_out: bool
) -> None:
    a = np.array([[0.1, 2.5, -3.0], [1e-7, 4e20, 7.0]], np.float32)
    b = np.array([[1, -2], [2**31 - 1, 0]], np.int32)
    inputs = [httpclient.InferInput("a", list(a.shape), "FP32"), httpclient.InferInput("b", list(b.shape), "INT32")]
    inputs[0].set_data_from_numpy(a, binary_data=binary_in)
    inputs[1].set_data_from_numpy(b, binary_data=not binary_in)  # one of each kind
    outputs = [httpclient.InferRequestedOutput("sum", binary_data=binary_out)]
    result = client.infer("two", inputs, outputs=outputs, request_id="r1")
    assert result.get_response()["id"] == "r1"
    assert np.array_equal(result.as_numpy("sum"), a * 2)  # exact: JSON floats read back bit for bit
    assert np.array_equal(result.as_numpy("neg"), -b)
    assert result.as_numpy("sum").dtype == np.float32 and result.as_numpy("neg").dtype == np.int32


def test_infer_default_outputs_and_versions(client: httpclient.InferenceServerClient) -> None:
    x = np.arange(10, dtype=np.float32).reshape(1, 10)
    tensor = httpclient.InferInput("b", [1, 10], "FP32")
    tensor.set_data_from_numpy(x)
    assert np.array_equal(client.infer("dummy", [tensor]).as_numpy("a"), x + 1)
    assert np.array_equal(client.infer("versioned", [tensor], model_version="1").as_numpy("a"), x + 1)
    assert np.array_equal(client.infer("versioned", [tensor]).as_numpy("a"), x + 2)


def test_errors_reach_the_client(client: httpclient.InferenceServerClient) -> None:
    tensor = httpclient.InferInput("b", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3), np.float32))
    with pytest.raises(InferenceServerException, match=r"Invalid input shape - Expected: \(1,10\); Actual: \(1,3\)"):
        client.infer("dummy", [tensor])
    with pytest.raises(InferenceServerException, match="Mediapipe graph definition with requested name is not found"):
        client.infer("nope", [tensor])
