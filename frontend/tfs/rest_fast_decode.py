"""Fast path for large numeric predict bodies: simdjson fills a float64 buffer straight from
the text, so no Python float is ever built per element (orjson builds one each, then frees it).

It is an accelerator, never a second set of rules: it accepts only the plain shapes it can
prove equal to what the exact path (tfs_request) would produce - float inputs, unnamed rows or
columns, or named columns of known inputs; dense arrays of numbers - and declines everything
else, which then goes through the exact path and gets OVMS's answer or error.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import simdjson
from ovserve.shared.signature import TensorSpec

log = logging.getLogger("ovserve.front")
MIN_BODY_BYTES = 32 * 1024  # below this orjson is as fast
_parser = simdjson.Parser()


def _dense_shape(array: Any) -> list[int] | None:
    """The nd-array's shape if every sub-array at every level has the first one's length."""
    shape = []
    probe = array
    while type(probe) is simdjson.Array:
        n = len(probe)
        shape.append(n)
        if n == 0:
            break
        probe = probe[0]
    level = [array]
    for depth in range(len(shape) - 1):
        want = shape[depth + 1]
        nxt = []
        for parent in level:
            for child in parent:
                if type(child) is not simdjson.Array or len(child) != want:
                    return None
                nxt.append(child)
        level = nxt
    return shape


def _arrays_in(shape: list[int]) -> int:
    """How many JSON arrays a dense nd-array of ``shape`` is written with."""
    total, width = 0, 1
    for n in shape:
        total += width
        width *= n
        if width == 0:
            break
    return total


def decode(
    body: bytes, inputs: tuple[TensorSpec, ...], quotes: int, arrays: int
) -> tuple[bool, dict[str, np.ndarray]] | None:
    """(row format?, tensors) or None to decline. ``quotes``/``arrays``: counts of ``"`` and
    ``[`` in the body, so that nothing the walk does not see (strings, nested arrays) hides."""
    global _parser
    if len(body) < MIN_BODY_BYTES:
        return None
    try:
        doc = _parser.parse(body)
    except ValueError:
        return None  # invalid JSON: the exact path reports it
    except RuntimeError:  # a proxy of the last document is still alive somewhere
        _parser = simdjson.Parser()
        return None
    try:
        return _decode(doc, inputs, quotes, arrays)
    except (TypeError, ValueError, KeyError, IndexError):
        return None


def _decode(
    doc: Any, inputs: tuple[TensorSpec, ...], quotes: int, arrays: int
) -> tuple[bool, dict[str, np.ndarray]] | None:
    if type(doc) is not simdjson.Object:
        return None
    keys = list(doc.keys())
    row = "instances" in keys
    if row == ("inputs" in keys) or not set(keys) <= {"instances", "inputs", "signature_name"}:
        return None
    expected_quotes = 2 * len(keys) + (2 if type(doc.get("signature_name")) is str else 0)
    value = doc["instances" if row else "inputs"]
    specs = {t.name: t for t in inputs}
    # (spec, [one JSON array per instance]); unnamed and column values are a single "instance"
    parts: list[tuple[TensorSpec, list[Any]]] = []
    named_rows = False
    if type(value) is simdjson.Array and len(value) and isinstance(value[0], simdjson.Object):
        if not row:
            return None
        names: list[str] | None = None
        per_name: dict[str, list[Any]] = {}
        for instance in value:  # named rows: every instance must name the same known inputs
            if type(instance) is not simdjson.Object:
                return None
            these = list(instance.keys())
            if names is None:
                names = these
            if these != names or not these:
                return None
            expected_quotes += 2 * len(these)
            for name in these:
                per_name.setdefault(name, []).append(instance[name])
        arrays -= 1  # the instances array itself
        named_rows = True
        for name, values in per_name.items():
            spec = specs.get(name)
            if spec is None:
                return None
            parts.append((spec, values))
    elif type(value) is simdjson.Array and len(inputs) == 1 and len(value):
        parts.append((inputs[0], [value]))
    elif type(value) is simdjson.Object and not row and len(value):
        for name in value:
            spec = specs.get(name)
            if spec is None:
                return None
            parts.append((spec, [value[name]]))
        expected_quotes += 2 * len(parts)
    else:
        return None
    if quotes != expected_quotes:
        return None
    tensors: dict[str, np.ndarray] = {}
    seen_arrays = 0
    for spec, values in parts:
        dtype = spec.dtype
        if dtype is None or dtype.kind != "f":
            return None
        pieces = []
        shape: list[int] | None = None
        for array in values:
            if type(array) is not simdjson.Array:
                return None
            this = _dense_shape(array)
            if this is None or (shape is not None and this != shape):
                return None
            shape = this
            seen_arrays += _arrays_in(this)
            flat = np.frombuffer(array.as_buffer(of_type="d"), dtype=np.float64)
            if flat.size != int(np.prod(this, dtype=np.int64)):
                return None
            pieces.append(flat)
        assert shape is not None
        full = [len(values), *shape] if named_rows else shape
        data = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        tensors[spec.name] = data.astype(dtype).reshape(full)
    if seen_arrays != arrays:
        return None
    return row, tensors
