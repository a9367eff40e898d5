"""KServe v2 gRPC (``inference.GRPCInferenceService``) on ``--port``: Triton's gRPC client
unchanged, then OVMS's rules with a raw stub (typed contents, raw buffers, mixing, status codes)."""

from __future__ import annotations

import struct

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from ovserve.shared.signature import kserve_datatype, numpy_dtype

# Triton's own generated messages (an independent copy of the wire format); ovserve's are not
# imported here: both define package "inference" in one descriptor pool
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

from tests.conftest import TYPED
from tests.server_util import Server


@pytest.fixture(scope="module")
def client(config_server: Server) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(f"127.0.0.1:{config_server.grpc_port}")


@pytest.fixture(scope="module")
def stub(config_server: Server) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{config_server.grpc_port}"))


def status_of(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code(), info.value.details()


def test_triton_client_health_and_metadata(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("dummy") and client.is_model_ready("versioned", "1")
    assert not client.is_model_ready("versioned", "3")  # LOADING/failed: not ready, not an error
    meta = client.get_server_metadata()
    assert meta.name == "OpenVINO Model Server" and not meta.extensions
    model = client.get_model_metadata("two", as_json=True)
    assert model["platform"] == "OpenVINO" and model["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in model["inputs"]] == [
        ("a", "FP32", ["-1", "3"]),
        ("b", "INT32", ["-1", "2"]),
    ]


def test_triton_client_infer(client: grpcclient.InferenceServerClient) -> None:
    a = np.array([[0.1, 2.5, -3.0], [1e-7, 4e20, 7.0]], np.float32)
    b = np.array([[1, -2], [2**31 - 1, 0]], np.int32)
    inputs = [grpcclient.InferInput("a", list(a.shape), "FP32"), grpcclient.InferInput("b", list(b.shape), "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    result = client.infer("two", inputs, request_id="g1", outputs=[grpcclient.InferRequestedOutput("sum")])
    response = result.get_response()
    assert (response.id, response.model_name, response.model_version) == ("g1", "two", "1")
    assert np.array_equal(result.as_numpy("sum"), a * 2)
    assert np.array_equal(result.as_numpy("neg"), -b)  # every output, whatever `outputs` lists
    x = np.zeros((1, 10), np.float32)
    tensor = grpcclient.InferInput("b", [1, 10], "FP32")
    tensor.set_data_from_numpy(x)
    assert np.array_equal(client.infer("versioned", [tensor], model_version="1").as_numpy("a"), x + 1)
    assert np.array_equal(client.infer("versioned", [tensor]).as_numpy("a"), x + 2)


def test_triton_client_errors(client: grpcclient.InferenceServerClient) -> None:
    tensor = grpcclient.InferInput("b", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3), np.float32))
    with pytest.raises(InferenceServerException) as info:
        client.infer("dummy", [tensor])
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert info.value.message() == "Invalid input shape - Expected: (1,10); Actual: (1,3); input name: b"
    with pytest.raises(InferenceServerException) as info:
        client.infer("nope", [tensor])
    assert info.value.status() == "StatusCode.NOT_FOUND"
    assert info.value.message() == "Mediapipe graph definition with requested name is not found"


@pytest.mark.parametrize("element", ["f32", *TYPED])
def test_every_datatype_raw_and_typed(stub: pb_grpc.GRPCInferenceServiceStub, element: str) -> None:
    model = "dummy" if element == "f32" else f"t_{element}"
    dtype = numpy_dtype(element)
    assert dtype is not None
    if element == "f32":
        x, name = np.arange(10, dtype=np.float32).reshape(1, 10), "b"
        expected = x + 1
    else:
        x = (np.array([[True, False, True, False]]) if dtype == np.bool_ else np.array([[1, 2, 3, 4]])).astype(dtype)
        expected = np.logical_not(x) if dtype == np.bool_ else x + x
        name = "x"
    tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=kserve_datatype(element), shape=x.shape)
    raw = pb.ModelInferRequest(model_name=model, inputs=[tensor], raw_input_contents=[x.tobytes()])
    requests = [raw]
    field = {"b": "bool_contents", "i": "int_contents", "u": "uint_contents", "f": "fp32_contents"}.get(dtype.kind)
    if dtype.itemsize == 8:
        field = {"i": "int64_contents", "u": "uint64_contents", "f": "fp64_contents"}[dtype.kind]
    if element != "f16":  # FP16 has no typed field: raw only
        assert field is not None
        typed = pb.ModelInferRequest.InferInputTensor(name=name, datatype=kserve_datatype(element), shape=x.shape)
        getattr(typed.contents, field).extend(x.reshape(-1).tolist())
        requests.append(pb.ModelInferRequest(model_name=model, inputs=[typed]))
    for request in requests:
        response = stub.ModelInfer(request)
        out = response.outputs[0]
        assert out.datatype == kserve_datatype(element) and list(out.shape) == list(x.shape)
        got = np.frombuffer(response.raw_output_contents[0], dtype=dtype).reshape(x.shape)
        assert np.array_equal(got, expected)


def _dummy(**fields: object) -> pb.ModelInferRequest.InferInputTensor:
    return pb.ModelInferRequest.InferInputTensor(name="b", datatype="FP32", shape=[1, 10], **fields)


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (pb.ModelInferRequest(model_name="dummy", inputs=[_dummy()], raw_input_contents=[b"\0" * 36]),
         grpc.StatusCode.INVALID_ARGUMENT,
         "Invalid content size of tensor proto - Expected: 40 bytes; Actual: 36 bytes; input name: b"),
        (pb.ModelInferRequest(model_name="dummy",
                              inputs=[_dummy(contents=pb.InferTensorContents(fp32_contents=[1.0]))]),
         grpc.StatusCode.INVALID_ARGUMENT,
         "Invalid number of values in tensor proto container - Expected: 10 values; Actual: 1 values; input name: b"),
        (pb.ModelInferRequest(model_name="dummy", inputs=[_dummy(contents=pb.InferTensorContents(fp32_contents=[1.0]))],
                              raw_input_contents=[b"\0" * 40]),
         grpc.StatusCode.INVALID_ARGUMENT,
         "Passing buffers both in ModelInferRequest::InferInputTensor::contents and in "
         "ModelInferRequest::raw_input_contents is not allowed - Passing buffers both in InferInputTensor contents "
         "and in raw_input_contents is not allowed. Detected buffer in InferInputTensor contents for input: b"),
        (pb.ModelInferRequest(model_name="dummy", inputs=[
            pb.ModelInferRequest.InferInputTensor(name="b", datatype="INT32", shape=[1, 10])],
            raw_input_contents=[b"\0" * 40]),
         grpc.StatusCode.INVALID_ARGUMENT, "Invalid input precision - Expected: FP32; Actual: INT32; input name: b"),
        (pb.ModelInferRequest(model_name="dummy", model_version="7", inputs=[_dummy()],
                              raw_input_contents=[b"\0" * 40]),
         grpc.StatusCode.NOT_FOUND, "Model with requested version is not found"),
        (pb.ModelInferRequest(model_name="versioned", model_version="3", inputs=[_dummy()],
                              raw_input_contents=[b"\0" * 40]),
         grpc.StatusCode.UNAVAILABLE, "Model with requested version is not loaded yet"),  # 404 in REST
        (pb.ModelInferRequest(model_name="dummy", inputs=[], raw_input_contents=[]),
         grpc.StatusCode.INVALID_ARGUMENT, "Invalid number of inputs - Expected: 1; Actual: 0"),
        (pb.ModelInferRequest(model_name="dummy", inputs=[
            pb.ModelInferRequest.InferInputTensor(name="b", datatype="BYTES", shape=[1])],
            raw_input_contents=[struct.pack("<I", 2) + b"hi"]),
         grpc.StatusCode.UNKNOWN, "Unknown error"),  # NOT_IMPLEMENTED is unmapped in OVMS's table
        # length prefixes that run past the buffer, or bytes left over: OVMS's INVALID_INPUT_FORMAT
        (pb.ModelInferRequest(model_name="dummy", inputs=[
            pb.ModelInferRequest.InferInputTensor(name="b", datatype="BYTES", shape=[1])],
            raw_input_contents=[struct.pack("<I", 5) + b"hi"]),
         grpc.StatusCode.INVALID_ARGUMENT, "Inputs inside buffer does not match expected format."),
        (pb.ModelInferRequest(model_name="dummy", inputs=[
            pb.ModelInferRequest.InferInputTensor(name="b", datatype="BYTES", shape=[1])],
            raw_input_contents=[struct.pack("<I", 2) + b"hi" + b"\0\0"]),
         grpc.StatusCode.INVALID_ARGUMENT, "Inputs inside buffer does not match expected format."),
    ],
)  # fmt: skip
def test_infer_errors(
    stub: pb_grpc.GRPCInferenceServiceStub, request_: pb.ModelInferRequest, code: grpc.StatusCode, message: str
) -> None:
    assert status_of(lambda: stub.ModelInfer(request_)) == (code, message)


def test_model_ready_and_metadata_errors(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    assert status_of(lambda: stub.ModelReady(pb.ModelReadyRequest(name="nope"))) == (
        grpc.StatusCode.NOT_FOUND,
        "Model with requested name is not found",
    )
    assert status_of(lambda: stub.ModelReady(pb.ModelReadyRequest(name="dummy", version="9"))) == (
        grpc.StatusCode.NOT_FOUND,
        "Model with requested version is not found",
    )
    assert status_of(lambda: stub.ModelReady(pb.ModelReadyRequest(name="dummy", version="x1"))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid model version format in request",
    )
    assert status_of(lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="versioned", version="3"))) == (
        grpc.StatusCode.UNAVAILABLE,
        "Model with requested version is not loaded yet",
    )
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="scalar"))
    assert list(meta.inputs[0].shape) == [] and meta.inputs[0].datatype == "FP32"


def test_stream_infer_serves_only_mediapipe_graphs(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    request = pb.ModelInferRequest(model_name="dummy", inputs=[_dummy()], raw_input_contents=[b"\0" * 40])
    with pytest.raises(grpc.RpcError) as info:
        list(stub.ModelStreamInfer(iter([request])))
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "Mediapipe graph definition with requested name is not found",
    )
