"""A pipeline node's outputs feed the next node in place: an input that already lies in the
front's arena is passed by its offset, not copied into the new request's block."""

from __future__ import annotations

import os

import numpy as np
from ovserve.frontend import arena_tensors
from ovserve.shared.shm import Segment
from ovserve.shared.signature import TensorSpec

SPEC = TensorSpec("x", "f32", ((1, 1), (10, 10)))


def test_resident_inputs_are_passed_by_offset() -> None:
    arena = Segment(f"ovserve-test-{os.getpid()}-arena", 1 << 20, create=True)
    try:
        produced = arena.view(4096, np.float32, (1, 10))  # a node's output, in its block
        produced[:] = 7.0
        outside = np.ones((1, 10), np.float32)
        sizes = arena_tensors.measure([(SPEC, produced), (SPEC, outside)], arena)
        assert sizes == [(0, None, 4096), (40, None, None)]
        descs, cursor = arena_tensors.write_inputs(arena, 65536, [(SPEC, produced), (SPEC, outside)], sizes)
        assert descs[0].offset == 4096 and descs[1].offset == 65536 and cursor == 65536 + 64
        assert np.array_equal(arena.view(65536, np.float32, (1, 10)), outside)
        assert arena_tensors.measure([(SPEC, produced)]) == [(40, None, None)]  # no arena given: copied
        assert arena_tensors.resident(arena, produced[:, ::2]) is None  # not contiguous: copied
    finally:
        del produced
        arena.close()
        arena.unlink()
