"""Outputs -> TFS predict JSON, byte-exact with OVMS (TF Serving's json_tensor.cc).

Tokens come from ``json_numbers`` (whole arrays, TF Serving's float rule) and nesting from ``json_nesting``;
this module only knows the two envelopes: row (``predictions``, one single-line item per instance) and
column (``outputs``, pretty-printed).
"""

from __future__ import annotations

import base64

import numpy as np
import orjson
from ovserve.frontend.json_nesting import nested
from ovserve.frontend.json_numbers import tokens
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError


def _key(name: str) -> bytes:
    return orjson.dumps(name)


def _json_bytes(item: bytes) -> str:
    """A JSON string of the item's bytes. TF Serving writes them raw, so bytes that are not UTF-8
    make its body invalid JSON; ovserve writes U+FFFD for them and the body stays JSON."""
    return orjson.dumps(item.decode("utf-8", "replace")).decode()


def _tokens(name: str, array: np.ndarray) -> np.ndarray | list[str]:
    """Each element's JSON text: numbers by TF Serving's rules; strings as JSON strings, or
    ``{"b64": ...}`` when the output's name ends with ``_bytes`` (TF Serving's rule)."""
    if array.dtype != object:
        return tokens(array)
    items = array.reshape(-1).tolist()
    if name.endswith("_bytes"):
        return ['{"b64": "' + base64.b64encode(i).decode() + '"}' for i in items]
    return [_json_bytes(i) for i in items]


def encode_predict(outputs: list[tuple[str, np.ndarray]], row: bool) -> bytes:
    if not outputs:
        raise OvmsError(E.REST_PROTO_TO_STRING_ERROR)
    if row:
        return _encode_row(outputs)
    return _encode_column(outputs)


def _instances(name: str, array: np.ndarray) -> list[bytes]:
    """Single-line text of each instance (first dimension) of ``array``."""
    rows = _tokens(name, array)
    per = len(rows) // array.shape[0]
    inner = array.shape[1:]
    return [nested(rows[i * per : (i + 1) * per], inner, None) for i in range(array.shape[0])]


def _encode_row(outputs: list[tuple[str, np.ndarray]]) -> bytes:
    batch = None
    for _, array in outputs:
        if array.ndim == 0 or (batch is not None and array.shape[0] != batch):
            raise OvmsError(E.REST_PROTO_TO_STRING_ERROR)
        batch = array.shape[0]
    if batch == 0:
        return b'{\n    "predictions": []\n}'
    if len(outputs) == 1:
        name, array = outputs[0]
        return b'{\n    "predictions": ' + nested(_tokens(name, array), array.shape, None)[:-1] + b"\n    ]\n}"
    per_output = [(_key(name), _instances(name, a)) for name, a in outputs]
    objects = []
    for i in range(batch or 0):
        members = b",".join(b"\n            " + key + b": " + items[i] for key, items in per_output)
        objects.append(b"\n        {" + members + b"\n        }")
    return b'{\n    "predictions": [' + b",".join(objects) + b"\n    ]\n}"


def _encode_column(outputs: list[tuple[str, np.ndarray]]) -> bytes:
    if len(outputs) == 1:
        name, array = outputs[0]
        return b'{\n    "outputs": ' + nested(_tokens(name, array), array.shape, 1) + b"\n}"
    members = b",".join(
        b"\n        " + _key(name) + b": " + nested(_tokens(name, a), a.shape, 2) for name, a in outputs
    )
    return b'{\n    "outputs": {' + members + b"\n    }\n}"
