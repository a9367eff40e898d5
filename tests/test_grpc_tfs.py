"""TF Serving gRPC on ``--port``: OVMS's own client (``ovmsclient``, gRPC) unchanged, then OVMS's
rules with raw stubs (tensor_content only, half_val, int_val, output precisions, status codes)."""

from __future__ import annotations

import grpc
import numpy as np
import ovmsclient
import pytest
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as pb
from ovserve.frontend.grpc_api.proto import tf_serving_pb2_grpc as pb_grpc
from ovserve.frontend.grpc_api.proto import tf_tensor_pb2 as tf
from ovserve.shared.signature import numpy_dtype, tf_dtype, tf_of_numpy

from tests.conftest import TYPED
from tests.server_util import Server


@pytest.fixture(scope="module")
def channel(config_server: Server) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{config_server.grpc_port}")


def status_of(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code(), info.value.details()


def tensor(array: np.ndarray, **fields: object) -> tf.TensorProto:
    shape = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=d) for d in array.shape])
    return tf.TensorProto(dtype=tf.DataType.Value(tf_of_numpy(array.dtype)), tensor_shape=shape, **fields)  # type: ignore[arg-type]


def predict(name: str, version: int | None = None, **inputs: tf.TensorProto) -> pb.PredictRequest:
    request = pb.PredictRequest(inputs=inputs)
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    return request


def test_ovmsclient_grpc_unchanged(config_server: Server) -> None:
    client = ovmsclient.make_grpc_client(f"127.0.0.1:{config_server.grpc_port}")
    assert client.get_model_status(model_name="dummy") == {
        1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    }
    status = client.get_model_status(model_name="versioned")
    assert status[1]["state"] == "AVAILABLE" and status[2]["state"] == "AVAILABLE" and status[3]["state"] == "LOADING"
    meta = client.get_model_metadata(model_name="two")
    assert meta["inputs"] == {
        "a": {"shape": [-1, 3], "dtype": "DT_FLOAT"},
        "b": {"shape": [-1, 2], "dtype": "DT_INT32"},
    }
    x = np.arange(10, dtype=np.float32).reshape(1, 10)
    assert np.array_equal(client.predict(inputs={"b": x}, model_name="dummy"), x + 1)
    assert np.array_equal(client.predict(inputs={"b": x}, model_name="versioned", model_version=1), x + 1)
    out = client.predict(inputs={"a": np.ones((2, 3), np.float32), "b": np.ones((2, 2), np.int32)}, model_name="two")
    assert np.array_equal(out["sum"], np.full((2, 3), 2.0)) and np.array_equal(out["neg"], -np.ones((2, 2)))
    with pytest.raises(ovmsclient.ModelNotFoundError):
        client.predict(inputs={"b": x}, model_name="missing")
    with pytest.raises(
        ovmsclient.InvalidInputError, match=r"Invalid input shape - Expected: \(1,10\); Actual: \(1,3\)"
    ):
        client.predict(inputs={"b": np.zeros((1, 3), np.float32)}, model_name="dummy")


@pytest.mark.parametrize("element", ["f32", *TYPED])
def test_predict_every_dtype(channel: grpc.Channel, element: str) -> None:
    stub = pb_grpc.PredictionServiceStub(channel)
    dtype = numpy_dtype(element)
    assert dtype is not None
    if element == "f32":
        model, name, out, x = "dummy", "b", "a", np.arange(10, dtype=np.float32).reshape(1, 10)
        expected = x + 1
    else:
        model, name, out = f"t_{element}", "x", "y"
        x = (np.array([[True, False, True, False]]) if dtype == np.bool_ else np.array([[1, 2, 3, 4]])).astype(dtype)
        expected = np.logical_not(x) if dtype == np.bool_ else x + x
    if element == "f16":
        proto = tensor(x, half_val=x.view(np.uint16).reshape(-1).tolist())
    elif element == "u16":
        proto = tensor(x, int_val=x.reshape(-1).tolist())
    else:
        proto = tensor(x, tensor_content=x.tobytes())
    request = predict(model, **{name: proto})
    if element in ("boolean", "u32", "u64"):  # OVMS cannot write these outputs over TFS gRPC
        assert status_of(lambda: stub.Predict(request)) == (
            grpc.StatusCode.INTERNAL,
            "Unsupported serialization precision",
        )
        return
    response = stub.Predict(request)
    assert not response.HasField("model_spec")  # OVMS never fills it
    result = response.outputs[out]
    assert result.dtype == tf.DataType.Value(tf_dtype(element))
    assert [d.size for d in result.tensor_shape.dim] == list(x.shape)
    assert np.array_equal(np.frombuffer(result.tensor_content, dtype=dtype).reshape(x.shape), expected)


def test_predict_errors(channel: grpc.Channel) -> None:
    stub = pb_grpc.PredictionServiceStub(channel)
    x = np.zeros((1, 10), np.float32)
    typed = tensor(x, float_val=[0.0] * 10)  # typed fields are ignored for DT_FLOAT, as in OVMS
    assert status_of(lambda: stub.Predict(predict("dummy", b=typed))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid content size of tensor proto - Expected: 40 bytes; Actual: 0 bytes; input name: b",
    )
    assert status_of(lambda: stub.Predict(pb.PredictRequest())) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "model_spec missing in request",
    )
    good = tensor(x, tensor_content=x.tobytes())
    assert status_of(lambda: stub.Predict(predict("nope", b=good))) == (
        grpc.StatusCode.NOT_FOUND,
        "Pipeline with requested name is not found",  # OVMS looks for a pipeline last
    )
    assert status_of(lambda: stub.Predict(predict("versioned", 3, b=good))) == (
        grpc.StatusCode.UNAVAILABLE,
        "Model with requested version is not loaded yet",
    )
    assert status_of(lambda: stub.Predict(predict("dummy", b=tensor(x.astype(np.int32), tensor_content=b"")))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid input precision - Expected: FP32; Actual: I32; input name: b",
    )
    assert status_of(lambda: stub.Predict(predict("dummy", c=good))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing input with specific name - Required input: b",
    )
    strings = tf.TensorProto(dtype=tf.DT_STRING, string_val=[b"x"], tensor_shape={"dim": [{"size": 1}]})
    assert status_of(lambda: stub.Predict(predict("dummy", b=strings))) == (grpc.StatusCode.UNKNOWN, "Unknown error")
    half = tensor(np.zeros((1, 4), np.float16))  # DT_HALF without half_val: TFS's value-count text
    assert status_of(lambda: stub.Predict(predict("t_f16", x=half))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid number of values in tensor proto container - Expected: 4; Actual: 0; input name: x",
    )
    dynamic = tf.TensorProto(
        dtype=tf.DT_FLOAT, tensor_shape={"dim": [{"size": -1}, {"size": 10}]}, tensor_content=x.tobytes()
    )
    assert status_of(lambda: stub.Predict(predict("dyn", b=dynamic))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid input shape - Negative or zero dimension size is not acceptable: (-1,10); input name: b",
    )
    classify = channel.unary_unary("/tensorflow.serving.PredictionService/Classify")
    code, _ = status_of(lambda: classify(b""))
    assert code == grpc.StatusCode.UNIMPLEMENTED


def test_metadata(channel: grpc.Channel) -> None:
    stub = pb_grpc.PredictionServiceStub(channel)
    request = pb.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "dummy"
    response = stub.GetModelMetadata(request)
    assert (response.model_spec.name, response.model_spec.version.value, response.model_spec.signature_name) == (
        "dummy",
        1,
        "",
    )
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    definitions = pb.SignatureDefMap()
    assert packed.Unpack(definitions)
    inputs = definitions.signature_def["serving_default"].inputs
    assert inputs["b"].name == "b" and inputs["b"].dtype == tf.DT_FLOAT
    assert [d.size for d in inputs["b"].tensor_shape.dim] == [1, 10]
    request.metadata_field[:] = ["signature_def", "x"]
    assert status_of(lambda: stub.GetModelMetadata(request)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid signature name",
    )


def test_model_service(channel: grpc.Channel) -> None:
    stub = pb_grpc.ModelServiceStub(channel)
    request = pb.GetModelStatusRequest()
    request.model_spec.name = "versioned"
    statuses = stub.GetModelStatus(request).model_version_status
    assert [(s.version, s.state, s.status.error_code) for s in statuses] == [
        (1, pb.ModelVersionStatus.AVAILABLE, pb.OK),
        (2, pb.ModelVersionStatus.AVAILABLE, pb.OK),
        (3, pb.ModelVersionStatus.LOADING, pb.UNKNOWN),
    ]
    request.model_spec.name = "nope"
    assert status_of(lambda: stub.GetModelStatus(request)) == (
        grpc.StatusCode.NOT_FOUND,
        "Model with requested name is not found",
    )
    # no model_spec at all: OVMS reads an empty name (it checks model_spec only in the other methods)
    assert status_of(lambda: stub.GetModelStatus(pb.GetModelStatusRequest())) == (
        grpc.StatusCode.NOT_FOUND,
        "Model with requested name is not found",
    )
    assert stub.HandleReloadConfigRequest(pb.ReloadConfigRequest()) == pb.ReloadConfigResponse()
