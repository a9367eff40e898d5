"""Request tensors against the model signature: OVMS's checks, order and texts (ovms.md 1.7)."""

from __future__ import annotations

import numpy as np

from shared import errors as E
from shared.errors import OvmsError
from shared.signature import (
    Signature,
    TensorSpec,
    dim_matches,
    dim_text,
    ovms_precision,
    precision_of_numpy,
    shape_text,
)


def _shapes(spec: TensorSpec, shape: tuple[int, ...]) -> str:
    return f"Expected: {shape_text(list(spec.dims))}; Actual: {shape_text(shape, actual=True)}; input name: {spec.name}"


def validate(inputs: dict[str, np.ndarray], signature: Signature) -> list[tuple[TensorSpec, np.ndarray]]:
    """Check count, presence, precision, rank, batch and shape; return (spec, array) pairs in
    the model's input order."""
    expected = len(signature.inputs)
    if len(inputs) != expected or expected == 0:
        raise OvmsError(E.INVALID_NO_OF_INPUTS, f"Expected: {expected}; Actual: {len(inputs)}")
    for spec in sorted(signature.inputs, key=lambda t: t.name):
        array = inputs.get(spec.name)
        name = spec.name
        if array is None:
            raise OvmsError(E.INVALID_MISSING_INPUT, f"Required input: {name}")
        if array.dtype != spec.dtype:
            actual = precision_of_numpy(array.dtype)
            expected_p = ovms_precision(spec.element_type)
            raise OvmsError(E.INVALID_PRECISION, f"Expected: {expected_p}; Actual: {actual}; input name: {name}")
        shape = array.shape
        if len(shape) != len(spec.dims):
            raise OvmsError(E.INVALID_NO_OF_SHAPE_DIMENSIONS, _shapes(spec, shape))
        if shape and not dim_matches(spec.dims[0], shape[0]):
            raise OvmsError(
                E.INVALID_BATCH_SIZE, f"Expected: {dim_text(spec.dims[0])}; Actual: {shape[0]}; input name: {name}"
            )
        for dim, value in zip(spec.dims[1:], shape[1:], strict=False):
            if not dim_matches(dim, value):
                raise OvmsError(E.INVALID_SHAPE, _shapes(spec, shape))
    return [(spec, inputs[spec.name]) for spec in signature.inputs]
