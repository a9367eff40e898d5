"""``inference.GRPCInferenceService`` on the data plane, as OVMS 2026.2 serves it
(src/kfs_frontend/, docs/model_server_grpc_api_kfs.md): inputs from ``raw_input_contents``
(matched by index) or the typed ``contents`` field of their datatype, outputs always in
``raw_output_contents``, every model output returned."""

from __future__ import annotations

import functools
from typing import Any

import grpc
import numpy as np
from ovserve.frontend.dataplane import DataPlane, DecodedTensors
from ovserve.frontend.grpc_api.proto import grpc_predict_v2_pb2 as pb
from ovserve.frontend.grpc_api.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from ovserve.frontend.grpc_api.served import served
from ovserve.frontend.kserve.model import (
    SERVER_NAME,
    SERVER_VERSION,
    described,
    is_ready,
    length_prefixed,
    precheck,
    raw_contents,
    versions_listed,
)
from ovserve.frontend.lifecycle import Call
from ovserve.frontend.validation import KSERVE, Declared
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import (
    KSERVE_NUMPY,
    Signature,
    dim_metadata,
    kserve_datatype,
    kserve_of_numpy,
    ovms_precision,
)

# the typed contents field that carries each numpy kind/size (FP16 has none: raw only)
_CONTENTS_FIELD = {
    "bool": "bool_contents",
    "int8": "int_contents",
    "int16": "int_contents",
    "int32": "int_contents",
    "int64": "int64_contents",
    "uint8": "uint_contents",
    "uint16": "uint_contents",
    "uint32": "uint_contents",
    "uint64": "uint64_contents",
    "float32": "fp32_contents",
    "float64": "fp64_contents",
    "object": "bytes_contents",
}


def parse_version(text: str) -> int:
    """A request's version string: empty = default (0); a literal 0 finds nothing (-1)."""
    if not text:
        return 0
    if not text.isdigit():
        raise OvmsError(E.MODEL_VERSION_INVALID_FORMAT)
    number = int(text)
    return number if number else -1


def decode_inputs(request: pb.ModelInferRequest, signature: Signature) -> DecodedTensors:
    """Flat arrays and their declared shapes; sizes are checked by ``validation`` later."""
    raw = request.raw_input_contents
    if raw:
        for item in request.inputs:
            if item.HasField("contents"):
                detail = (
                    "Passing buffers both in InferInputTensor contents and in raw_input_contents is not allowed. "
                    f"Detected buffer in InferInputTensor contents for input: {item.name}"
                )
                raise OvmsError(E.INVALID_MESSAGE_STRUCTURE, detail)
    specs = {t.name: t for t in signature.inputs}
    inputs: dict[str, np.ndarray] = {}
    declared: dict[str, Declared] = {}
    for i, item in enumerate(request.inputs):
        dtype = KSERVE_NUMPY.get(item.datatype)
        if dtype is None:
            spec = specs.get(item.name)
            expected = ovms_precision(spec.element_type) if spec is not None else "UNDEFINED"
            detail = f"Expected: {expected}; Actual: {item.datatype}; input name: {item.name}"
            raise OvmsError(E.INVALID_PRECISION, detail)
        shape = tuple(item.shape)
        if raw:
            buffer = memoryview(raw[i]) if i < len(raw) else memoryview(b"")
            if dtype.kind == "O":
                inputs[item.name] = np.array(length_prefixed(buffer), dtype=object)
                declared[item.name] = Declared(shape)
            else:
                usable = len(buffer) - len(buffer) % dtype.itemsize
                inputs[item.name] = np.frombuffer(buffer[:usable], dtype=dtype)
                declared[item.name] = Declared(shape, raw_bytes=len(buffer))
        else:
            field = _CONTENTS_FIELD.get(dtype.name)
            values: Any = getattr(item.contents, field) if field else ()
            inputs[item.name] = _typed(values, dtype)
            declared[item.name] = Declared(shape)
    precheck(len(request.inputs), inputs, signature)
    return DecodedTensors(inputs, declared)


def _typed(values: Any, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "O":
        return np.array(list(values), dtype=object)
    with np.errstate(all="ignore"):
        return np.array(values, dtype=np.float64 if dtype.kind == "f" else None).astype(dtype)


class KServeGrpc(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, dataplane: DataPlane) -> None:
        self.dp = dataplane

    @served()
    async def ServerLive(self, call: Call, request: Any, context: grpc.aio.ServicerContext) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @served()
    async def ServerReady(self, call: Call, request: Any, context: grpc.aio.ServicerContext) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dp.ready)

    @served()
    async def ServerMetadata(
        self, call: Call, request: Any, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION)

    @served("KServe", "ModelReady")
    async def ModelReady(self, call: Call, request: Any, context: grpc.aio.ServicerContext) -> pb.ModelReadyResponse:
        call.name, call.version = request.name, parse_version(request.version)
        return pb.ModelReadyResponse(ready=is_ready(self.dp, call.name, call.version))

    @served("KServe", "ModelMetadata")
    async def ModelMetadata(
        self, call: Call, request: Any, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        call.name, call.version = request.name, parse_version(request.version)
        entry = described(self.dp, call.name, call.version)
        assert entry.signature is not None
        response = pb.ModelMetadataResponse(
            name=request.name,
            versions=[str(v) for v in versions_listed(self.dp, request.name, entry)],
            platform="OpenVINO",
        )
        for specs, out in ((entry.signature.inputs, response.inputs), (entry.signature.outputs, response.outputs)):
            for spec in sorted(specs, key=lambda t: t.name):
                shape = [dim_metadata(d) for d in spec.dims]
                out.add(name=spec.name, datatype=kserve_datatype(spec.element_type), shape=shape)
        return response

    @served("KServe", "ModelInfer")
    async def ModelInfer(self, call: Call, request: Any, context: grpc.aio.ServicerContext) -> pb.ModelInferResponse:
        call.name, call.version = request.model_name, parse_version(request.model_version)
        decode = functools.partial(decode_inputs, request)
        _, outcome = await self.dp.infer_call(call, decode, KSERVE, E.MEDIAPIPE_DEFINITION_NAME_MISSING)
        response = pb.ModelInferResponse(
            model_name=request.model_name, model_version=str(outcome.version), id=request.id
        )
        for name, array in outcome.outputs:
            response.outputs.add(name=name, datatype=kserve_of_numpy(array.dtype), shape=array.shape)
            response.raw_output_contents.append(raw_contents(array))
        return response

    async def ModelStreamInfer(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        """OVMS streams only MediaPipe graphs, which ovserve does not serve: any name is unknown."""
        async for _ in request_iterator:
            break
        await context.abort(grpc.StatusCode.NOT_FOUND, E.MEDIAPIPE_DEFINITION_NAME_MISSING.message)
        yield pb.ModelStreamInferResponse()  # never reached: makes this an async generator
