"""KServe v2 infer body -> flat numpy arrays with their declared shapes, with OVMS's parsing
rules, order and texts (src/rest_parser.cpp), JSON ``data`` and the binary extension.

The JSON part is parsed before the model is looked up, as OVMS does; shapes and value counts are
checked later against the model (``validation``). Binary inputs are numpy views of the request
body: the dispatcher's copy into the shared-memory arena is the only copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ovserve.frontend.http.reply import Headers
from ovserve.frontend.json_body import load_json, scan
from ovserve.frontend.kserve.model import length_prefixed, precheck
from ovserve.frontend.validation import Declared
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import KSERVE_NUMPY, Signature

HEADER_LENGTH = "inference-header-content-length"
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
SIZE_MAX = 2**64 - 1
_NO_JSON = frozenset({"FP16", "BF16"})  # only through the binary extension
_INT_KINDS = frozenset("iu")
_NUMBER_KINDS = frozenset("iuf")
_EMPTY = memoryview(b"")


@dataclass(slots=True)
class RequestedOutput:
    name: str
    binary: bool | None  # its own ``binary_data`` (None: absent or not a bool)


@dataclass(slots=True)
class InferRequestV2:
    id: str = ""
    inputs: dict[str, np.ndarray] = field(default_factory=dict)  # flat
    declared: dict[str, Declared] = field(default_factory=dict)
    count: int = 0  # inputs listed (a repeated name counts twice, as in OVMS)
    binary_output: bool = False  # request-level ``binary_data_output``
    outputs: list[RequestedOutput] = field(default_factory=list)

    def checked(self, signature: Signature) -> InferRequestV2:
        """Itself, once the checks before validation passed (``kserve.model.precheck``)."""
        precheck(self.count, self.inputs, signature)
        return self


def header_length(headers: Headers) -> int | None:
    """The JSON part's length from ``Inference-Header-Content-Length``, checked first (500s)."""
    value = headers.get(HEADER_LENGTH)
    if value is None:
        return None
    text = value.strip()
    if not text.lstrip("+-").isdigit() or not 0 <= int(text) <= INT32_MAX:
        raise OvmsError(E.REST_INFERENCE_HEADER_CONTENT_LENGTH_INVALID)
    return int(text)


def parse_infer(body: bytes, json_length: int | None, max_depth: int) -> InferRequestV2:
    if json_length is None:
        text, binary = body, _EMPTY
    else:
        if json_length > len(body):
            raise OvmsError(E.REST_INFERENCE_HEADER_CONTENT_LENGTH_EXCEEDED)
        text, binary = body[:json_length], memoryview(body)[json_length:]
    info = scan(text, max_depth)
    doc = load_json(text)
    if type(doc) is not dict:
        raise OvmsError(E.REST_BODY_IS_NOT_AN_OBJECT)
    request = InferRequestV2()
    if "id" in doc:
        if type(doc["id"]) is not str:
            raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
        request.id = doc["id"]
    params = _parameters(doc.get("parameters"))
    request.binary_output = params.get("binary_data_output") is True
    if "outputs" in doc:
        request.outputs = _outputs(doc["outputs"])
    items = doc.get("inputs")
    if items is None or (type(items) is list and not items):
        raise OvmsError(E.REST_NO_INPUTS_FOUND)
    if type(items) is not list:
        raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    offset = 0
    for item in items:
        name, shape, datatype, item_params = _header(item)
        if "binary_data_size" in item_params:
            size = item_params["binary_data_size"]
            if type(size) is not int or size < 0:
                raise OvmsError(E.REST_BINARY_DATA_SIZE_PARAMETER_INVALID)
            if "data" in item:
                raise OvmsError(E.REST_CONTENTS_FIELD_NOT_EMPTY)
            array, declared = _binary(binary, offset, size, datatype, shape)
            offset += size
        elif "data" in item:
            array, declared = _from_json(item["data"], datatype, info.literals), Declared(shape)
        else:
            lone_bytes = len(items) == 1 and datatype == "BYTES"  # takes the whole buffer
            size = len(binary) - offset if lone_bytes else _computed_size(shape, datatype)
            array, declared = _binary(binary, offset, size, datatype, shape)
            offset += size
        request.inputs[name] = array
        request.declared[name] = declared
        request.count += 1
    return request


def _parameters(value: Any) -> dict[str, Any]:
    """Parameters: an object of strings, bools and int32-range integers (OVMS's rule)."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise OvmsError(E.REST_COULD_NOT_PARSE_PARAMETERS)
    for v in value.values():
        t = type(v)
        if not (t is str or t is bool or (t is int and -INT32_MAX - 1 <= v <= INT32_MAX)):
            raise OvmsError(E.REST_COULD_NOT_PARSE_PARAMETERS)
    return value


def _outputs(value: Any) -> list[RequestedOutput]:
    if type(value) is not list:
        raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    kept: list[RequestedOutput] = []
    for item in value:
        if type(item) is not dict or type(item.get("name")) is not str:
            raise OvmsError(E.REST_COULD_NOT_PARSE_OUTPUT)
        params = item.get("parameters")
        if params is not None and type(params) is not dict:
            raise OvmsError(E.REST_COULD_NOT_PARSE_OUTPUT)
        binary = (params or {}).get("binary_data")
        # OVMS clears the list for each output it parses: only the last one listed is kept
        kept = [RequestedOutput(item["name"], binary if type(binary) is bool else None)]
    return kept


def _header(item: Any) -> tuple[str, tuple[int, ...], str, dict[str, Any]]:
    """An input's name, shape, datatype and parameters, or 400 ``Could not parse input content``."""
    if type(item) is not dict:
        raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if type(name) is not str or type(datatype) is not str or type(shape) is not list:
        raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    for dim in shape:
        if type(dim) is not int or not 0 <= dim <= INT32_MAX:
            raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    params = item.get("parameters")
    if params is not None and type(params) is not dict:
        raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    return name, tuple(shape), datatype, params or {}


def _dtype(datatype: str) -> np.dtype:
    dtype = KSERVE_NUMPY.get(datatype)
    if dtype is None:
        raise OvmsError(E.REST_UNSUPPORTED_PRECISION)
    return dtype


def _computed_size(shape: tuple[int, ...], datatype: str) -> int:
    """Bytes of a binary input without ``binary_data_size``: product(shape) x element size."""
    itemsize = 1 if datatype == "BYTES" else _dtype(datatype).itemsize
    size = math.prod(shape) * itemsize
    if size > SIZE_MAX:
        raise OvmsError(E.INVALID_CONTENT_SIZE, E.BINARY_SHAPE_OVERFLOW)
    return size


def _binary(
    buffer: memoryview, offset: int, size: int, datatype: str, shape: tuple[int, ...]
) -> tuple[np.ndarray, Declared]:
    if offset + size > len(buffer):
        raise OvmsError(E.REST_BINARY_BUFFER_EXCEEDED)
    dtype = _dtype(datatype)
    raw = buffer[offset : offset + size]
    if datatype == "BYTES":
        items = length_prefixed(raw)
        return np.array(items, dtype=object), Declared(shape)  # values counted, as OVMS counts strings
    usable = size - size % dtype.itemsize  # a ragged tail fails the size check against the shape
    return np.frombuffer(raw[:usable], dtype=dtype), Declared(shape, raw_bytes=size)


def _flatten(value: Any, out: list[Any]) -> None:
    for v in value:
        if type(v) is list:
            _flatten(v, out)
        else:
            out.append(v)


def _from_json(data: Any, datatype: str, literals: bool) -> np.ndarray:
    """``data`` (nested any way) -> a flat array of the datatype, with OVMS's per-type checks:
    FP any number; INT an int32-range integer; UINT a uint32-range one; BOOL true/false; BYTES
    strings. Values are then cast as C casts them (ints wrap)."""
    if datatype in _NO_JSON or type(data) is not list:
        raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    dtype = _dtype(datatype)
    kind = dtype.kind
    if kind in _NUMBER_KINDS and not literals:  # no true/false/null in the body: numpy may decide
        try:
            array = np.array(data)
        except (ValueError, OverflowError, TypeError):
            array = None  # ragged nesting, or integers numpy will not hold: the walk below
        if array is not None and array.size == 0:
            return np.empty(0, dtype)
        if array is not None and array.dtype.kind in _NUMBER_KINDS:
            return _numbers(array.ravel(), dtype)
    flat: list[Any] = []
    _flatten(data, flat)
    if kind == "b":
        if not all(type(v) is bool for v in flat):
            raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
        return np.array(flat, dtype=np.bool_)
    if kind == "O":
        if not all(type(v) is str for v in flat):
            raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
        return np.array([v.encode() for v in flat], dtype=object)
    if not all(type(v) is int or type(v) is float for v in flat):
        raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
    if kind in _INT_KINDS:
        if not all(type(v) is int for v in flat):
            raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
        return _numbers(np.array(flat, dtype=object), dtype)
    return np.array(flat, dtype=np.float64).astype(dtype)


def _numbers(flat: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Range checks of OVMS's JSON reader, then the cast."""
    if dtype.kind in _INT_KINDS:
        if flat.dtype.kind not in _INT_KINDS and flat.dtype != object:
            raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)  # 1.5, or 1.0, is not an integer
        if flat.size:
            lo, hi = (-INT32_MAX - 1, INT32_MAX) if dtype.kind == "i" else (0, UINT32_MAX)
            if int(flat.min()) < lo or int(flat.max()) > hi:
                raise OvmsError(E.REST_COULD_NOT_PARSE_INPUT)
        with np.errstate(all="ignore"):
            return flat.astype(np.int64).astype(dtype)
    if flat.dtype == dtype:
        return flat
    with np.errstate(all="ignore"):
        return flat.astype(dtype)
