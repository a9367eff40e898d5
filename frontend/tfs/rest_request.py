"""TFS predict body -> numpy arrays, with OVMS's parsing rules and error texts
(src/rest_parser.cpp); the body's scan, depth limit and 412s are ``frontend.json_body``'s.

Hot path: orjson parses, then each tensor goes through one ``np.array`` call and one cast.
The strict per-element walk runs only when the body contains ``true``, ``false`` or ``null``
(numpy would silently turn them into numbers) or when numpy could not make a numeric array.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

import numpy as np
from ovserve.frontend.json_body import MAX_DEPTH, Scan, load_json, scan
from ovserve.frontend.tfs import rest_fast_decode as fast_decode
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError, Status
from ovserve.shared.signature import TensorSpec

_UNTYPED_INT = np.dtype(np.int32)  # dtype guessed for inputs the model does not have
_UNTYPED_FLOAT = np.dtype(np.float32)


@dataclass(slots=True)
class PredictRequest:
    row: bool  # "instances" (row) or "inputs" (column)
    inputs: dict[str, np.ndarray]
    declared: None = None  # the arrays' shapes are the request's


def _is_b64(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and type(value.get("b64")) is str


def _is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float


def _strict_ok(value: Any) -> bool:
    """A dense nd-array of numbers (no bool/null/str/object), checked element by element."""
    if type(value) is not list:
        return _is_number(value)
    if not value:
        return True
    first = value[0]
    if type(first) is list:
        n = len(first)
        return all(type(v) is list and len(v) == n and _strict_ok(v) for v in value)
    return all(_is_number(v) for v in value)


def _guess_dtype(value: Any) -> np.dtype | None:
    while type(value) is list and value:
        value = value[0]
    if type(value) is int:
        return _UNTYPED_INT
    if type(value) is float:
        return _UNTYPED_FLOAT
    return None


def to_ndarray(value: Any, spec: TensorSpec | None, strict: bool, err: Status, plain: bool = False) -> np.ndarray:
    """One tensor's JSON value -> array of the model's dtype (C-cast semantics: ints wrap,
    doubles truncate toward zero). ``plain``: the body holds only numbers and arrays here, so
    numpy may convert straight into a float dtype."""
    dtype = spec.dtype if spec is not None else _guess_dtype(value)
    if plain and dtype is not None and dtype.kind == "f":
        try:
            with np.errstate(all="ignore"):  # out of range: inf, as OVMS's C cast (no warning in the log)
                return np.array(value, dtype=dtype)
        except (ValueError, OverflowError, TypeError):
            raise OvmsError(err) from None
    if _has_text(value, b64_only=spec is None or spec.element_type not in ("u8", "string")):
        return _binary_items(value, spec, err)
    if dtype is None or dtype == np.bool_:
        raise OvmsError(err)  # BOOL and non-numeric model inputs cannot be fed through TFS REST
    if strict and not _strict_ok(value):
        raise OvmsError(err)
    try:
        array = np.array(value)
    except (ValueError, OverflowError, TypeError):
        raise OvmsError(err) from None
    kind = array.dtype.kind
    if kind not in "iuf":
        if kind == "O" and _strict_ok(value):  # integers past int64 mixed with negatives
            try:
                array = np.array(value, dtype=np.float64)
            except (ValueError, OverflowError, TypeError):
                raise OvmsError(err) from None
        else:
            raise OvmsError(err)
    if array.dtype == dtype:
        return array
    with np.errstate(all="ignore"):
        return array.astype(dtype)


def _has_text(value: Any, *, b64_only: bool) -> bool:
    """Binary inputs (b64 objects, or strings for U8/STRING inputs): images and strings."""
    while type(value) is list and value:
        value = value[0]
    return _is_b64(value) or (not b64_only and type(value) is str)


def _binary_items(value: Any, spec: TensorSpec | None, err: Status) -> np.ndarray:
    """``{"b64": ...}`` objects (any known input) or JSON strings (U8 and STRING inputs): a
    DT_STRING tensor ``[N]`` of bytes, whatever the model's shape (rest_parser.cpp)."""
    if spec is None:
        raise OvmsError(err)  # strings of an input the model does not have cannot be typed
    strings = spec.element_type in ("u8", "string")
    items = value if type(value) is list else [value]
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        if _is_b64(item):
            text = item["b64"]
            try:  # absl's Base64Unescape takes a missing padding
                out[i] = binascii.a2b_base64(text + "=" * (-len(text) % 4), strict_mode=True)
            except (binascii.Error, ValueError):
                raise OvmsError(err) from None
        elif strings and type(item) is str:
            out[i] = item.encode()
        else:  # a number among strings, nested arrays of strings
            raise OvmsError(err)
    return out


def _single_input(inputs: tuple[TensorSpec, ...]) -> TensorSpec:
    if not inputs:
        raise OvmsError(E.REST_INPUT_NOT_PREALLOCATED)
    if len(inputs) > 1:
        raise OvmsError(E.INVALID_INPUT_FORMAT)
    return inputs[0]


def parse_predict(body: bytes, inputs: tuple[TensorSpec, ...], max_depth: int = MAX_DEPTH) -> PredictRequest:
    info = scan(body, max_depth)
    if not info.literals and not info.escapes:
        fast = fast_decode.decode(body, inputs, info.quotes, info.arrays)
        if fast is not None:
            return PredictRequest(*fast)
    doc = load_json(body)
    if type(doc) is not dict:
        raise OvmsError(E.REST_BODY_IS_NOT_AN_OBJECT)
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances == has_inputs:
        raise OvmsError(E.REST_PREDICT_UNKNOWN_ORDER)
    specs = {t.name: t for t in inputs}
    if has_instances:
        return PredictRequest(True, _parse_row(doc["instances"], inputs, specs, info, doc))
    return PredictRequest(False, _parse_column(doc["inputs"], inputs, specs, info, doc))


def _key_quotes(doc: dict[str, Any], *inner: Any) -> int:
    """Quotes a body has when its only strings are object keys (and signature_name)."""
    n = 2 * len(doc) + (2 if type(doc.get("signature_name")) is str else 0)
    for item in inner:
        if type(item) is dict:
            n += 2 * len(item)
    return n


def _plain(scan: Scan, quotes: int) -> bool:
    return not scan.literals and not scan.escapes and scan.quotes == quotes


def _parse_row(
    instances: Any, inputs: tuple[TensorSpec, ...], specs: dict[str, TensorSpec], scan: Scan, doc: dict[str, Any]
) -> dict[str, np.ndarray]:
    strict = scan.literals
    err = E.REST_COULD_NOT_PARSE_INSTANCE
    if type(instances) is not list:
        raise OvmsError(E.REST_INSTANCES_NOT_AN_ARRAY)
    if not instances:
        raise OvmsError(E.REST_NO_INSTANCES_FOUND)
    first = instances[0]
    if type(first) is dict and not _is_b64(first):
        columns: dict[str, list[Any]] = {}
        for item in instances:
            if type(item) is not dict:
                raise OvmsError(E.REST_NAMED_INSTANCE_NOT_AN_OBJECT)
            if not item:
                raise OvmsError(err)
            for key, value in item.items():
                columns.setdefault(key, []).append(value)
        out: dict[str, np.ndarray] = {}
        plain = _plain(scan, _key_quotes(doc, *instances))
        for key, values in columns.items():
            spec = specs.get(key)
            if spec is None and type(values[0]) is not list:
                raise OvmsError(err)  # a bare scalar of an unknown input cannot be typed
            out[key] = to_ndarray(values, spec, strict, err, plain)
        if len({a.shape[0] for a in out.values()}) > 1:
            raise OvmsError(E.REST_INSTANCES_BATCH_SIZE_DIFFER)
        return out
    if first is None or type(first) is bool:
        raise OvmsError(E.REST_INSTANCES_NOT_NAMED_OR_NONAMED)
    spec = _single_input(inputs)
    return {spec.name: to_ndarray(instances, spec, strict, err, _plain(scan, _key_quotes(doc)))}


def _parse_column(
    value: Any, inputs: tuple[TensorSpec, ...], specs: dict[str, TensorSpec], scan: Scan, doc: dict[str, Any]
) -> dict[str, np.ndarray]:
    err = E.REST_COULD_NOT_PARSE_INPUT
    strict = scan.literals
    if type(value) is dict and not _is_b64(value):
        if not value:
            raise OvmsError(E.REST_NO_INPUTS_FOUND)
        plain = _plain(scan, _key_quotes(doc, value))
        return {key: to_ndarray(v, specs.get(key), strict, err, plain) for key, v in value.items()}
    if type(value) is list:
        spec = _single_input(inputs)
        return {spec.name: to_ndarray(value, spec, strict, err, _plain(scan, _key_quotes(doc)))}
    if _is_number(value) and len(inputs) == 1:
        return {inputs[0].name: to_ndarray(value, inputs[0], False, err)}
    raise OvmsError(E.REST_INPUTS_NOT_AN_OBJECT)
