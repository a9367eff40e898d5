"""A worker's side of the tensors in a front's arena: a request's inputs as arrays (string
tensors unpacked from ``shared.strings``'s format), and outputs written into the request's
reserved block, or carried inline in the result when they do not fit."""

from __future__ import annotations

from typing import Any

import numpy as np
from ovserve.shared import strings
from ovserve.shared.messages import INLINE, InferResult, TensorDesc
from ovserve.shared.shm import Segment, aligned
from ovserve.workers.batcher import Job


def input_array(arena: Segment, t: TensorDesc, inputs_end: int) -> np.ndarray:
    """``t``'s tensor: a view of the arena, or for strings the items (numpy's bytes type: what
    OpenVINO takes as a string tensor), read only from before ``inputs_end``."""
    if t.dtype == strings.STRING_DTYPE:
        items = strings.unpack(arena.buffer, t.offset, inputs_end - t.offset)
        return np.array(items, dtype=np.bytes_).reshape(t.shape)
    return arena.view(t.offset, t.dtype, t.shape)


def result_message(job: Job, outputs: list[np.ndarray], names: list[str] | None = None) -> list[Any]:
    """The encoded result: outputs copied into the job's reserved block, inline when they do not
    fit. ``names``: the outputs' (default: the model's output names)."""
    descs: list[TensorDesc] = []
    cursor, end = job.out_offset, job.out_offset + job.out_size
    for name, array in zip(job.loaded.output_names if names is None else names, outputs, strict=False):
        shape = list(array.shape)
        if array.dtype.kind in "SO":  # a string tensor
            items = [bytes(i) for i in array.reshape(-1).tolist()]
            n = strings.packed_size(items)
            if cursor + n <= end:
                strings.pack_into(items, job.arena.buffer, cursor)
                descs.append(TensorDesc(name, cursor, strings.STRING_DTYPE, shape))
                cursor += aligned(n)
            else:
                descs.append(TensorDesc(name, INLINE, strings.STRING_DTYPE, shape, strings.pack(items)))
            continue
        n = array.nbytes
        if cursor + n <= end:
            if n and array.flags.c_contiguous:  # a byte copy: no array view of the arena made
                job.arena.buffer[cursor : cursor + n] = array.data.cast("B")
            else:
                np.copyto(job.arena.view(cursor, array.dtype, array.shape), array)
            descs.append(TensorDesc(name, cursor, array.dtype.str, shape))
            cursor += aligned(n)
        else:
            descs.append(TensorDesc(name, INLINE, array.dtype.str, shape, np.ascontiguousarray(array).tobytes()))
    return InferResult(job.rid, descs).encode()
