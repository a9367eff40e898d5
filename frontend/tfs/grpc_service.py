"""TF Serving's gRPC services on the data plane, as OVMS 2026.2 serves them (src/prediction_service.cpp):
``PredictionService`` Predict and GetModelMetadata, ``ModelService`` GetModelStatus and
HandleReloadConfigRequest (answered OK and ignored: the server reloads by itself, as OVMS).

Predict inputs: ``tensor_content`` for the numeric types (typed ``*_val`` fields are ignored, as
OVMS ignores them: such a request fails the content-size check), ``half_val`` for DT_HALF,
``int_val`` for DT_UINT16. Outputs go to ``tensor_content``; the response carries no
``model_spec``, as OVMS's."""

from __future__ import annotations

import functools
import logging
from typing import Any

import grpc
import numpy as np
from ovserve.frontend.dataplane import DataPlane, DecodedTensors
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as pb
from ovserve.frontend.grpc_api.proto import tf_serving_pb2_grpc as pb_grpc
from ovserve.frontend.grpc_api.proto import tf_tensor_pb2 as tf
from ovserve.frontend.grpc_api.served import served
from ovserve.frontend.lifecycle import Call
from ovserve.frontend.validation import Declared
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import (
    TF_NUMPY,
    Signature,
    TensorSpec,
    dim_metadata,
    ovms_precision,
    tf_dtype,
    tf_of_numpy,
)

log = logging.getLogger("ovserve.front")
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
# output dtypes OVMS writes (BOOL, U32, U64 outputs fail with "Unsupported serialization precision")
_SERIALIZED = frozenset(
    np.dtype(n) for n in ("float32", "int32", "float64", "int8", "uint8", "int16", "uint16", "float16", "int64")
)


def _spec_version(request: Any, required: bool = True) -> tuple[str, int]:
    """The name and version asked for; ``required`` False: a missing ``model_spec`` is an empty
    name, as OVMS's GetModelStatus reads it (src/tfs_frontend/tfs_utils.cpp does not check it)."""
    if required and not request.HasField("model_spec"):
        raise OvmsError(E.MODEL_SPEC_MISSING)
    spec = request.model_spec
    return spec.name, spec.version.value if spec.HasField("version") else 0  # a label is ignored


def _dtype_name(proto: tf.TensorProto) -> str:
    try:
        return tf.DataType.Name(proto.dtype)
    except ValueError:
        return "DT_INVALID"


def decode_input(name: str, proto: tf.TensorProto, spec: TensorSpec | None) -> tuple[np.ndarray, Declared]:
    """A flat array of the request's dtype and its declared shape (sizes are checked later)."""
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    dtype_name = _dtype_name(proto)
    dtype = TF_NUMPY.get(dtype_name)
    if dtype is None:
        expected = ovms_precision(spec.element_type) if spec is not None else "UNDEFINED"
        raise OvmsError(E.INVALID_PRECISION, f"Expected: {expected}; Actual: {dtype_name}; input name: {name}")
    if dtype_name == "DT_STRING":
        return np.array(list(proto.string_val), dtype=object), Declared(shape)
    if dtype_name == "DT_HALF":
        return np.array(proto.half_val, dtype=np.int64).astype(np.uint16).view(np.float16), Declared(shape)
    if dtype_name == "DT_UINT16":
        with np.errstate(all="ignore"):
            return np.array(proto.int_val, dtype=np.int64).astype(np.uint16), Declared(shape)
    content = proto.tensor_content
    usable = len(content) - len(content) % dtype.itemsize
    return np.frombuffer(content, dtype=dtype, count=usable // dtype.itemsize), Declared(shape, len(content))


def decode_predict(request: Any, signature: Signature) -> DecodedTensors:
    specs = {t.name: t for t in signature.inputs}
    inputs: dict[str, np.ndarray] = {}
    declared: dict[str, Declared] = {}
    for name, proto in request.inputs.items():
        inputs[name], declared[name] = decode_input(name, proto, specs.get(name))
    return DecodedTensors(inputs, declared)


def encode_output(array: np.ndarray) -> tf.TensorProto:
    shape = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=d) for d in array.shape])
    if array.dtype == object:  # a STRING output: string_val, as OVMS
        return tf.TensorProto(dtype=tf.DT_STRING, tensor_shape=shape, string_val=array.reshape(-1).tolist())
    if array.dtype not in _SERIALIZED:
        raise OvmsError(E.UNSUPPORTED_SERIALIZATION_PRECISION)
    dtype = tf.DataType.Value(tf_of_numpy(array.dtype))
    return tf.TensorProto(dtype=dtype, tensor_shape=shape, tensor_content=array.tobytes())


def _tensor_info(spec: TensorSpec) -> tf.TensorInfo:
    dims = [tf.TensorShapeProto.Dim(size=dim_metadata(d)) for d in spec.dims]
    return tf.TensorInfo(
        name=spec.name, dtype=tf.DataType.Value(tf_dtype(spec.element_type)), tensor_shape={"dim": dims}
    )


def signature_def_map(signature: Signature) -> pb.SignatureDefMap:
    definition = tf.SignatureDef(
        inputs={t.name: _tensor_info(t) for t in signature.inputs},
        outputs={t.name: _tensor_info(t) for t in signature.outputs},
    )
    return pb.SignatureDefMap(signature_def={"serving_default": definition})


class PredictionService(pb_grpc.PredictionServiceServicer):
    def __init__(self, dataplane: DataPlane) -> None:
        self.dp = dataplane

    @served("TensorFlowServing", "Predict")
    async def Predict(self, call: Call, request: Any, context: grpc.aio.ServicerContext) -> pb.PredictResponse:
        call.name, call.version = _spec_version(request)
        # an unknown name: OVMS looks for a pipeline last (src/prediction_service.cpp)
        unknown = E.PIPELINE_DEFINITION_NAME_MISSING
        _, outcome = await self.dp.infer_call(call, functools.partial(decode_predict, request), unknown=unknown)
        return pb.PredictResponse(outputs={n: encode_output(a) for n, a in outcome.outputs})

    @served("TensorFlowServing", "GetModelMetadata")
    async def GetModelMetadata(
        self, call: Call, request: Any, context: grpc.aio.ServicerContext
    ) -> pb.GetModelMetadataResponse:
        call.name, call.version = name, version = _spec_version(request)
        if list(request.metadata_field) != ["signature_def"]:
            raise OvmsError(E.INVALID_SIGNATURE_DEF)
        entry = self.dp.available(name, version)
        assert entry.signature is not None
        response = pb.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = entry.version
        response.metadata["signature_def"].Pack(signature_def_map(entry.signature))
        return response


class ModelService(pb_grpc.ModelServiceServicer):
    def __init__(self, dataplane: DataPlane) -> None:
        self.dp = dataplane

    @served("TensorFlowServing", "GetModelStatus")
    async def GetModelStatus(
        self, call: Call, request: Any, context: grpc.aio.ServicerContext
    ) -> pb.GetModelStatusResponse:
        call.name, call.version = name, version = _spec_version(request, required=False)
        response = pb.GetModelStatusResponse()
        for v, state, code in self.dp.table.status(name, version):
            status = pb.StatusProto(error_code=code.name, error_message=code.name)
            response.model_version_status.add(version=v, state=int(state), status=status)
        return response

    @served()
    async def HandleReloadConfigRequest(
        self, call: Call, request: Any, context: grpc.aio.ServicerContext
    ) -> pb.ReloadConfigResponse:
        log.info(
            "Requested HandleReloadConfigRequest - but this service is reloading config automatically by itself, "
            "therefore this operation has no *EXTRA* affect."
        )
        return pb.ReloadConfigResponse()
