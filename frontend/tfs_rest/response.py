"""Outputs -> TFS predict JSON, byte-exact with OVMS (TF Serving's writer, ovms.md 1.8).

Tokens come from ``json_numbers`` (whole arrays, TF Serving's float rule) and nesting from ``json_nesting``;
this module only knows the two envelopes: row (``predictions``, one single-line item per instance) and
column (``outputs``, pretty-printed).
"""

from __future__ import annotations

import numpy as np
import orjson

from frontend.json_nesting import nested
from frontend.json_numbers import tokens
from shared import errors as E
from shared.errors import OvmsError


def _key(name: str) -> bytes:
    return orjson.dumps(name)


def encode_predict(outputs: list[tuple[str, np.ndarray]], row: bool) -> bytes:
    if not outputs:
        raise OvmsError(E.REST_PROTO_TO_STRING_ERROR)
    if row:
        return _encode_row(outputs)
    return _encode_column(outputs)


def _instances(array: np.ndarray) -> list[bytes]:
    """Single-line text of each instance (first dimension) of ``array``."""
    rows = tokens(array)
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
        array = outputs[0][1]
        return b'{\n    "predictions": ' + nested(tokens(array), array.shape, None)[:-1] + b"\n    ]\n}"
    per_output = [(_key(name), _instances(a)) for name, a in outputs]
    objects = []
    for i in range(batch or 0):
        members = b",".join(b"\n            " + key + b": " + items[i] for key, items in per_output)
        objects.append(b"\n        {" + members + b"\n        }")
    return b'{\n    "predictions": [' + b",".join(objects) + b"\n    ]\n}"


def _encode_column(outputs: list[tuple[str, np.ndarray]]) -> bytes:
    if len(outputs) == 1:
        array = outputs[0][1]
        return b'{\n    "outputs": ' + nested(tokens(array), array.shape, 1) + b"\n}"
    members = b",".join(b"\n        " + _key(name) + b": " + nested(tokens(a), a.shape, 2) for name, a in outputs)
    return b'{\n    "outputs": {' + members + b"\n    }\n}"
