"""TFS predict body -> numpy arrays, with OVMS's parsing rules and error texts
(reference ovms.md 1.6).

Hot path: orjson parses, then each tensor goes through one ``np.array`` call and one cast.
The strict per-element walk runs only when the body contains ``true``, ``false`` or ``null``
(numpy would silently turn them into numbers) or when numpy could not make a numeric array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from frontend import fast_decode
from frontend.json_syntax import describe_error
from shared import errors as E
from shared.errors import OvmsError, Status
from shared.signature import TensorSpec

MAX_DEPTH = 100  # OVMS 2026's limit; --max_json_depth changes it
# One C-speed pass keeps only what the checks below need: brackets (nesting depth), quotes and
# backslashes (are there string values?), and the letters of true/false/null (which numpy would
# silently turn into numbers). Deleting the rest keeps every such token contiguous.
_KEPT = b'[]{}"\\aeflnrstu'
_DROP = bytes(b for b in range(256) if b not in _KEPT)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_UNTYPED_INT = np.dtype(np.int32)  # dtype guessed for inputs the model does not have
_UNTYPED_FLOAT = np.dtype(np.float32)


@dataclass(slots=True)
class PredictRequest:
    row: bool  # "instances" (row) or "inputs" (column)
    inputs: dict[str, np.ndarray]


@dataclass(slots=True)
class _Scan:
    literals: bool  # may hold true/false/null
    quotes: int
    escapes: bool
    arrays: int


def _scan(body: bytes, max_depth: int = MAX_DEPTH) -> _Scan:
    """Depth limit (500 past 100 levels, as OVMS 2026) and what the fast path must know."""
    kept = body.translate(None, _DROP)
    brackets = kept.translate(None, _NOT_BRACKETS)
    if len(brackets) > max_depth:
        depth = deepest = 0
        for ch in brackets:
            if ch == 0x5B or ch == 0x7B:
                depth += 1
                if depth > deepest:
                    deepest = depth
            else:
                depth -= 1
        if deepest > max_depth and (b'"' not in kept or _nesting_exact(body, max_depth)):
            raise OvmsError(E.JSON_NESTING_DEPTH_EXCEEDED)
    literals = b"true" in kept or b"false" in kept or b"null" in kept
    return _Scan(literals, kept.count(b'"'), b"\\" in kept, brackets.count(b"["))


def _nesting_exact(body: bytes, limit: int) -> bool:
    """Depth outside strings: only for bodies whose strings might hold brackets."""
    depth, in_string, escaped = 0, False, False
    for ch in body:
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:
                escaped = True
            elif ch == 0x22:
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif ch in (0x5D, 0x7D):
            depth -= 1
    return False


def load_json(body: bytes) -> Any:
    """Parse a body as OVMS does: 412 with rapidjson's message (the depth is checked first)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    found = describe_error(body)
    if found is None:
        # valid for rapidjson but not for orjson: integers past 64 bits, or bad UTF-8
        import json

        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            found = ("Invalid encoding in string.", 0)
    message, offset = found
    raise OvmsError(E.JSON_INVALID, f"Error: {message} Offset: {offset}")


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
            return np.array(value, dtype=dtype)
        except (ValueError, OverflowError, TypeError):
            raise OvmsError(err) from None
    if _has_text(value, b64_only=spec is None or spec.element_type not in ("u8", "string")):
        raise OvmsError(E.NOT_IMPLEMENTED, "string and binary (b64) inputs are not supported yet")
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


def _single_input(inputs: tuple[TensorSpec, ...]) -> TensorSpec:
    if not inputs:
        raise OvmsError(E.REST_INPUT_NOT_PREALLOCATED)
    if len(inputs) > 1:
        raise OvmsError(E.INVALID_INPUT_FORMAT)
    return inputs[0]


def parse_predict(body: bytes, inputs: tuple[TensorSpec, ...], max_depth: int = MAX_DEPTH) -> PredictRequest:
    scan = _scan(body, max_depth)
    if not scan.literals and not scan.escapes:
        fast = fast_decode.decode(body, inputs, scan.quotes, scan.arrays)
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
        return PredictRequest(True, _parse_row(doc["instances"], inputs, specs, scan, doc))
    return PredictRequest(False, _parse_column(doc["inputs"], inputs, specs, scan, doc))


def _key_quotes(doc: dict[str, Any], *inner: Any) -> int:
    """Quotes a body has when its only strings are object keys (and signature_name)."""
    n = 2 * len(doc) + (2 if type(doc.get("signature_name")) is str else 0)
    for item in inner:
        if type(item) is dict:
            n += 2 * len(item)
    return n


def _plain(scan: _Scan, quotes: int) -> bool:
    return not scan.literals and not scan.escapes and scan.quotes == quotes


def _parse_row(
    instances: Any, inputs: tuple[TensorSpec, ...], specs: dict[str, TensorSpec], scan: _Scan, doc: dict[str, Any]
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
    value: Any, inputs: tuple[TensorSpec, ...], specs: dict[str, TensorSpec], scan: _Scan, doc: dict[str, Any]
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
