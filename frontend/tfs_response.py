"""Outputs -> TFS predict JSON, byte-exact with OVMS (TF Serving's writer, ovms.md 1.8).

Floats follow TF Serving's rule: ``%g``; if that does not read back as the same value, ``%.9g``
(float32) or ``%.17g`` (float64); ``.0`` appended to integral texts; NaN/Infinity as bare tokens.
One pass over the values as Python floats; the float32 read-back goes through ``struct``
(3x cheaper than numpy scalars for the small outputs most models have).
"""

from __future__ import annotations

import struct

import numpy as np
import orjson

from shared import errors as E
from shared.errors import OvmsError

_INT_KINDS = {"int8", "uint8", "int16", "int32", "int64"}
_UNSUPPORTED_400 = {"uint16", "float16"}


_F32 = struct.Struct("f")
_INF = float("inf")


def _float_texts(flat: np.ndarray) -> list[str]:
    single = flat.dtype == np.float32
    pack, unpack = _F32.pack, _F32.unpack
    texts = []
    for v in flat.tolist():
        if v != v:
            texts.append("NaN")
            continue
        if v == _INF or v == -_INF:
            texts.append("Infinity" if v > 0 else "-Infinity")
            continue
        t = format(v, "g")
        back = float(t)
        if (unpack(pack(back))[0] if single else back) != v:
            t = format(v, ".9g" if single else ".17g")
        if "." not in t and "e" not in t:
            t += ".0"
        texts.append(t)
    return texts


def element_texts(array: np.ndarray) -> list[str]:
    """Every element's JSON token, in row-major order."""
    name = array.dtype.name
    flat = array.ravel()
    if name in ("float32", "float64"):
        return _float_texts(flat)
    if name in _INT_KINDS:
        return list(map(str, flat.tolist()))
    if name in _UNSUPPORTED_400:
        raise OvmsError(E.REST_UNSUPPORTED_PRECISION)
    raise OvmsError(E.UNSUPPORTED_SERIALIZATION_PRECISION)


def _single_line(texts: list[str], shape: tuple[int, ...]) -> list[str]:
    """Nest flat tokens into single-line arrays (``[1, 2]``) for every dim of ``shape``;
    returns one text per element of the outermost dim (or the tokens for rank 0)."""
    if not shape:
        return texts
    items = texts
    for dim in reversed(shape[1:]):
        if dim == 0:
            count = len(items) if items else int(np.prod(shape[: shape.index(0)], dtype=np.int64))
            items = ["[]"] * count
            continue
        items = ["[" + ", ".join(items[i : i + dim]) + "]" for i in range(0, len(items), dim)]
    return items


def _pretty(texts: list[str], shape: tuple[int, ...], level: int) -> str:
    """rapidjson PrettyWriter (default mode) of a nested array starting at ``level``."""
    if not shape:
        return texts[0]
    pad = "\n" + "    " * (level + 1)
    end = "\n" + "    " * level + "]"
    if shape[0] == 0:
        return "[]"
    if len(shape) == 1:
        return "[" + pad + ("," + pad).join(texts) + end
    step = len(texts) // shape[0] if texts else 0
    inner = [_pretty(texts[i * step : (i + 1) * step], shape[1:], level + 1) for i in range(shape[0])]
    return "[" + pad + ("," + pad).join(inner) + end


def _key(name: str) -> str:
    return orjson.dumps(name).decode()


def encode_predict(outputs: list[tuple[str, np.ndarray]], row: bool) -> bytes:
    if not outputs:
        raise OvmsError(E.REST_PROTO_TO_STRING_ERROR)
    if row:
        return _encode_row(outputs).encode()
    return _encode_column(outputs).encode()


def _encode_row(outputs: list[tuple[str, np.ndarray]]) -> str:
    batch = None
    for _, array in outputs:
        if array.ndim == 0 or (batch is not None and array.shape[0] != batch):
            raise OvmsError(E.REST_PROTO_TO_STRING_ERROR)
        batch = array.shape[0]
    if batch == 0:
        return '{\n    "predictions": []\n}'
    if len(outputs) == 1:
        array = outputs[0][1]
        items = _single_line(element_texts(array), array.shape)
        return '{\n    "predictions": [' + ", ".join(items) + "\n    ]\n}"
    per_output = [(_key(name), _single_line(element_texts(a), a.shape)) for name, a in outputs]
    objects = []
    for i in range(batch or 0):
        members = ",".join(f"\n            {key}: {items[i]}" for key, items in per_output)
        objects.append("\n        {" + members + "\n        }")
    return '{\n    "predictions": [' + ",".join(objects) + "\n    ]\n}"


def _encode_column(outputs: list[tuple[str, np.ndarray]]) -> str:
    if len(outputs) == 1:
        array = outputs[0][1]
        return '{\n    "outputs": ' + _pretty(element_texts(array), array.shape, 1) + "\n}"
    members = ",".join(f"\n        {_key(name)}: " + _pretty(element_texts(a), a.shape, 2) for name, a in outputs)
    return '{\n    "outputs": {' + members + "\n    }\n}"
