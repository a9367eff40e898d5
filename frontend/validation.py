"""Request tensors against the model signature: OVMS's checks, order and texts
(src/predict_request_validation_utils.cpp), for every protocol."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import (
    Signature,
    TensorSpec,
    dim_matches,
    dim_text,
    kserve_of_numpy,
    ovms_precision,
    precision_of_numpy,
    shape_text,
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a protocol words what OVMS checks: the name of a request dtype, the rank rule of a
    binary (string) input, the error for an empty string item."""

    precision_name: Callable[[np.dtype], str]
    binary_rank: str
    empty_item: E.Status
    values: str  # the unit of a value count ("Expected: 4 values; ..." in KServe, none in TFS)


TFS = Dialect(precision_of_numpy, "Expected number of binary input shape dimensions", E.STRING_VAL_EMPTY, "")
KSERVE = Dialect(kserve_of_numpy, "Expected number of input shape dimensions", E.BYTES_CONTENTS_EMPTY, " values")


@dataclass(frozen=True, slots=True)
class Declared:
    """A shape a request states apart from its data (KServe): the data is flat and checked
    against it after the shape checks, by value count (JSON) or byte count (binary)."""

    shape: tuple[int, ...]
    raw_bytes: int | None = None  # binary data: its size in bytes


def shapes_detail(spec: TensorSpec, shape: tuple[int, ...]) -> str:
    return f"Expected: {shape_text(list(spec.dims))}; Actual: {shape_text(shape, actual=True)}; input name: {spec.name}"


def validate(
    inputs: Mapping[str, np.ndarray],
    signature: Signature,
    declared: Mapping[str, Declared] | None = None,
    dialect: Dialect = TFS,
) -> list[tuple[TensorSpec, np.ndarray]]:
    """Check count, presence, precision, rank, batch, shape (and a declared shape's data size);
    return (spec, array) pairs in the model's input order. A binary input (an object array of
    bytes: TFS DT_STRING, KServe BYTES) gets the binary checks and stays an object array."""
    expected = len(signature.inputs)
    if len(inputs) != expected or expected == 0:
        raise OvmsError(E.INVALID_NO_OF_INPUTS, f"Expected: {expected}; Actual: {len(inputs)}")
    out: dict[str, np.ndarray] = {}  # inputs given a declared shape
    for spec in sorted(signature.inputs, key=lambda t: t.name):
        array = inputs.get(spec.name)
        name = spec.name
        if array is None:
            raise OvmsError(E.INVALID_MISSING_INPUT, f"Required input: {name}")
        stated = declared.get(name) if declared is not None else None
        shape = stated.shape if stated is not None else array.shape
        if any(d < 0 for d in shape):
            detail = f"Negative or zero dimension size is not acceptable: {shape_text(shape, actual=True)}"
            raise OvmsError(E.INVALID_SHAPE, f"{detail}; input name: {name}")
        if array.dtype == object:
            out[name] = _binary(spec, array, stated, dialect)
            continue
        if array.dtype != spec.dtype:
            actual = dialect.precision_name(array.dtype)
            expected_p = ovms_precision(spec.element_type)
            raise OvmsError(E.INVALID_PRECISION, f"Expected: {expected_p}; Actual: {actual}; input name: {name}")
        _check_shape(spec, shape)
        if stated is not None:
            out[name] = _with_shape(array, stated, name, dialect)
    if not out:
        return [(spec, inputs[spec.name]) for spec in signature.inputs]
    return [(spec, out.get(spec.name, inputs[spec.name])) for spec in signature.inputs]


def _check_shape(spec: TensorSpec, shape: tuple[int, ...]) -> None:
    """Rank, batch (dim 0), then the other dims, with OVMS's texts."""
    if len(shape) != len(spec.dims):
        raise OvmsError(E.INVALID_NO_OF_SHAPE_DIMENSIONS, shapes_detail(spec, shape))
    if shape and not dim_matches(spec.dims[0], shape[0]):
        detail = f"Expected: {dim_text(spec.dims[0])}; Actual: {shape[0]}; input name: {spec.name}"
        raise OvmsError(E.INVALID_BATCH_SIZE, detail)
    if any(not dim_matches(d, v) for d, v in zip(spec.dims[1:], shape[1:], strict=False)):
        raise OvmsError(E.INVALID_SHAPE, shapes_detail(spec, shape))


def value_count(dialect: Dialect, expected: int, actual: int, name: str) -> OvmsError:
    unit = dialect.values
    return OvmsError(E.INVALID_VALUE_COUNT, f"Expected: {expected}{unit}; Actual: {actual}{unit}; input name: {name}")


def _with_shape(flat: np.ndarray, stated: Declared, name: str, dialect: Dialect) -> np.ndarray:
    count = math.prod(stated.shape)
    if stated.raw_bytes is not None:
        wanted = count * flat.dtype.itemsize
        if stated.raw_bytes != wanted:
            detail = f"Expected: {wanted} bytes; Actual: {stated.raw_bytes} bytes; input name: {name}"
            raise OvmsError(E.INVALID_CONTENT_SIZE, detail)
    elif flat.size != count:
        raise value_count(dialect, count, flat.size, name)
    return flat.reshape(stated.shape)


def _binary(spec: TensorSpec, items: np.ndarray, stated: Declared | None, dialect: Dialect) -> np.ndarray:
    """OVMS's checks of a binary input (src/*/kfs_utils.cpp, tfs_utils.cpp), which keeps its items: for a STRING
    model input the usual shape checks and one item per element; for any other input (images,
    2-D strings) a 1-D request shape ``[N]`` with N items, and N a batch the model takes."""
    shape = stated.shape if stated is not None else items.shape
    name = spec.name
    if spec.element_type == "string":
        _check_shape(spec, shape)
        count = math.prod(shape)
        if items.size != count:
            raise value_count(dialect, count, items.size, name)
        return items.reshape(shape)
    if len(shape) != 1:
        detail = f"{dialect.binary_rank}: 1; Actual: {len(shape)}; input name: {name}"
        raise OvmsError(E.INVALID_NO_OF_SHAPE_DIMENSIONS, detail)
    if shape[0] != items.size:
        raise OvmsError(E.INVALID_BATCH_SIZE, f"Expected: {shape[0]}; Actual: {items.size}; input name: {name}")
    if spec.dims and not dim_matches(spec.dims[0], items.size):
        detail = f"Expected: {dim_text(spec.dims[0])}; Actual: {items.size}; input name: {name}"
        raise OvmsError(E.INVALID_BATCH_SIZE, detail)
    return items
