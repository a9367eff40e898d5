"""A front's side of the tensors in its arena: how much room a request needs (inputs, and a
reservation for the outputs), inputs written into its block (string tensors in
``shared.strings``'s format), outputs read back from the block or from the result inline.
The worker's side is ``workers.tensors``."""

from __future__ import annotations

import logging

import numpy as np
from ovserve.shared import errors as E
from ovserve.shared import strings
from ovserve.shared.errors import OvmsError
from ovserve.shared.messages import INLINE, InferResult, TensorDesc
from ovserve.shared.shm import Segment, aligned
from ovserve.shared.signature import Signature, TensorSpec

log = logging.getLogger("ovserve.front")
MIN_OUTPUT_RESERVE = 64 * 1024  # outputs of unknown size: at least this much, else 4x the inputs
# per input: bytes it takes in the block, its string items, or where it already is in the arena
Measured = list[tuple[int, list[bytes] | None, int | None]]


def resident(arena: Segment, array: np.ndarray) -> int | None:
    """Where ``array`` already lies in ``arena`` (a pipeline node's output feeding the next
    node: passed by offset, not copied), or None."""
    if array.dtype == object or not array.flags.c_contiguous or array.nbytes == 0:
        return None
    offset = array.__array_interface__["data"][0] - arena.address
    return offset if offset >= 0 and offset + array.nbytes <= arena.size else None


def measure(inputs: list[tuple[TensorSpec, np.ndarray]], arena: Segment | None = None) -> Measured:
    out: Measured = []
    for _, array in inputs:
        if array.dtype == object:
            items = array.reshape(-1).tolist()
            out.append((strings.packed_size(items), items, None))
            continue
        at = resident(arena, array) if arena is not None else None
        out.append((0 if at is not None else array.nbytes, None, at))
    return out


def output_reserve(signature: Signature, batch: int, input_bytes: int) -> int:
    total = 0
    for spec in signature.outputs:
        n = spec.static_nbytes(batch)
        if n is None:
            return max(MIN_OUTPUT_RESERVE, 4 * input_bytes, total)
        total += aligned(n)
    return total


def write_inputs(
    arena: Segment, cursor: int, inputs: list[tuple[TensorSpec, np.ndarray]], sizes: Measured
) -> tuple[list[TensorDesc], int]:
    """The inputs' descriptors, and where the outputs' reservation starts."""
    descs = []
    for (spec, array), (n, items, at) in zip(inputs, sizes, strict=True):
        if at is not None:  # already in the arena (held by its producer until this one answers)
            descs.append(TensorDesc(spec.name, at, array.dtype.str, list(array.shape)))
            continue
        if items is not None:
            strings.pack_into(items, arena.buffer, cursor)
        else:
            np.copyto(arena.view(cursor, array.dtype, array.shape), array)
        descs.append(TensorDesc(spec.name, cursor, array.dtype.str, list(array.shape)))
        cursor += aligned(n)
    return descs, cursor


def read_outputs(
    arena: Segment, result: InferResult, block_end: int, copy: bool = True
) -> list[tuple[str, np.ndarray]]:
    """The result's outputs, or the error it carries: copies (the block is released after), or
    with ``copy=False`` views of the block (its holder releases it when done with them)."""
    if result.outputs is None:
        raise OvmsError(E.BY_NAME.get(result.error, E.INTERNAL_ERROR), result.details)
    outputs = []
    try:
        for t in result.outputs:
            inline = t.data if t.offset == INLINE and t.data is not None else None
            if t.dtype == strings.STRING_DTYPE:
                if inline is not None:
                    items = strings.unpack(inline)
                else:
                    items = strings.unpack(arena.buffer, t.offset, block_end - t.offset)
                array = np.empty(len(items), dtype=object)
                array[:] = items
                array = array.reshape(t.shape)
            elif inline is not None:
                array = np.frombuffer(inline, dtype=t.dtype).reshape(t.shape)
            else:
                array = arena.view(t.offset, t.dtype, t.shape)
                if copy:
                    array = array.copy()
            outputs.append((t.name, array))
    except (ValueError, TypeError) as exc:  # a result that does not describe its tensors
        log.error("malformed result tensors: %s", exc)
        raise OvmsError(E.INTERNAL_ERROR) from None
    return outputs
