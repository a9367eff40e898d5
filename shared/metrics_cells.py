"""Metric values in shared memory: one file of 64-bit cells per counting process, summed by
whichever front answers ``/metrics``.

Each process is the only writer of its file (no locks: an aligned 8-byte store is atomic, so a
reader never sees a torn value and a process killed mid-update leaves every cell valid). The file
is named by the process's role and index, not its pid, and outlives the process: a respawned
front or worker reopens its predecessor's file and counts on from there, so a restart neither
loses nor repeats a count. Gauges are the exception: a new process starts them at zero, since
what they measured died with the old one. The supervisor removes the files on exit with its
other segments (``shared.shm.remove_owned``).
"""

from __future__ import annotations

import bisect
import glob
import mmap
import os

import numpy as np
from ovserve.shared.metrics_layout import BLOCK, BUCKETS, GAUGES, HIST_CELLS
from ovserve.shared.shm import SHM_DIR, reserve_space, segment_name

CELL = 8
INITIAL_SLOTS = 64
_SUM = HIST_CELLS - 1
_BOUNDS = tuple(float(b) for b in BUCKETS)  # bisect compares float to float twice as fast


def cells_path(supervisor_pid: int, role: str, index: int) -> str:
    return os.path.join(SHM_DIR, segment_name(supervisor_pid, f"metrics-{role}{index}"))


def cell_files(supervisor_pid: int) -> list[str]:
    return sorted(glob.glob(os.path.join(SHM_DIR, segment_name(supervisor_pid, "metrics-*"))))


class MetricCells:
    """This process's cells, ``BLOCK`` per slot; grows (never shrinks) as slots are added."""

    def __init__(self, path: str, slots: int = INITIAL_SLOTS) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = os.fstat(self._fd).st_size
        want = max(slots, INITIAL_SLOTS) * BLOCK * CELL
        if size < want:
            os.ftruncate(self._fd, want)
            size = want
        reserve_space(self._fd, 0, size)  # ENOSPC now rather than SIGBUS at a later write
        self._map(size)
        self._zero_gauges()

    def _map(self, size: int) -> None:
        self._mm = mmap.mmap(self._fd, size)
        self.cells = memoryview(self._mm).cast("q")
        self.slots = size // (BLOCK * CELL)

    def _zero_gauges(self) -> None:
        for slot in range(self.slots):
            for cell in GAUGES:
                self.cells[slot * BLOCK + cell] = 0

    def ensure(self, slot: int) -> None:
        """Make room for ``slot`` (called when a table or a load names it, off the hot path)."""
        if slot < self.slots:
            return
        slots = max(self.slots * 2, slot + 1)
        self.cells.release()
        self._mm.close()
        os.ftruncate(self._fd, slots * BLOCK * CELL)
        reserve_space(self._fd, 0, slots * BLOCK * CELL)
        self._map(slots * BLOCK * CELL)

    def add(self, slot: int, cell: int, n: int = 1) -> None:
        self.cells[slot * BLOCK + cell] += n

    def close(self) -> None:
        self.cells.release()
        self._mm.close()
        os.close(self._fd)


def observe(cells: memoryview, histogram: int, us: float) -> None:
    """Count ``us`` in the histogram whose cells start at ``histogram`` (an index into
    ``MetricCells.cells``): its bucket, and the sum."""
    cells[histogram + bisect.bisect_left(_BOUNDS, us)] += 1
    cells[histogram + _SUM] += int(us)


def totals(paths: list[str], slots: int) -> np.ndarray:
    """The sum over ``paths`` of each cell of slots ``0..slots-1``: shape (slots, BLOCK)."""
    total = np.zeros(slots * BLOCK, dtype=np.int64)
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # the server is stopping
            continue
        try:
            size = os.fstat(fd).st_size
            n = min(size // CELL, total.size)
            if n == 0:
                continue
            mm = mmap.mmap(fd, n * CELL, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        values = np.frombuffer(mm, dtype=np.int64, count=n)
        total[:n] += values
        del values
        mm.close()
    return total.reshape(slots, BLOCK)
