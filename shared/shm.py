"""Shared-memory segments and the per-front tensor arena.

Segments are plain files in ``/dev/shm`` named ``ovserve-<supervisor pid>-<role>``, opened and
mapped directly (not through ``multiprocessing.shared_memory``, whose resource tracker would
unlink a segment when any process that merely attached to it exits). The supervisor removes its
own segments on exit and, at start, those of supervisors that no longer run.
"""

from __future__ import annotations

import bisect
import contextlib
import glob
import mmap
import os
import shutil
import tempfile

import numpy as np
import numpy.typing as npt

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
PREFIX = "ovserve"
ALIGN = 64
COMMIT_STEP = 16 * 1024**2


def reserve_space(fd: int, offset: int, length: int) -> None:
    """Give a tmpfs file its pages now: writing through a mapping into a page a full tmpfs
    cannot supply is a SIGBUS (the process dies), while this fails with ENOSPC (an error)."""
    if length > 0:
        os.posix_fallocate(fd, offset, length)


def aligned(n: int) -> int:
    """Bytes a tensor of ``n`` bytes takes in an arena: every tensor starts on an ALIGN boundary
    (and takes at least ALIGN, so that an empty one still has an address of its own)."""
    return max(ALIGN, (n + ALIGN - 1) & ~(ALIGN - 1))


def segment_name(supervisor_pid: int, role: str) -> str:
    return f"{PREFIX}-{supervisor_pid}-{role}"


def _path(name: str) -> str:
    return os.path.join(SHM_DIR, name)


class Segment:
    """A named shared-memory mapping: created by its owner, attached by its peers. The owner
    commits its pages as use reaches them (``commit``), so that an arena costs only what it
    has used and a full /dev/shm is an error, not a SIGBUS."""

    def __init__(self, name: str, size: int, *, create: bool) -> None:
        self.name = name
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(_path(name), flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            else:
                size = os.fstat(fd).st_size
            self.size = size
            self.map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd if create else None
        if not create:
            os.close(fd)
        self.committed = 0
        self.buffer = memoryview(self.map)
        self.address = np.frombuffer(self.map, dtype=np.uint8).__array_interface__["data"][0]

    def commit(self, end: int) -> bool:
        """Make sure bytes up to ``end`` have pages (in steps, so rarely a syscall); False when
        /dev/shm has no room for them."""
        if end <= self.committed:
            return True
        assert self._fd is not None, "only the owner commits"
        new = min(self.size, max(end, self.committed + COMMIT_STEP))
        try:
            reserve_space(self._fd, self.committed, new - self.committed)
        except OSError:
            return False
        self.committed = new
        return True

    def view(self, offset: int, dtype: npt.DTypeLike, shape: tuple[int, ...] | list[int]) -> np.ndarray:
        """A zero-copy numpy view of ``shape`` items of ``dtype`` at ``offset``."""
        return np.ndarray(shape, dtype=dtype, buffer=self.buffer, offset=offset)

    def close(self) -> None:
        """Unmap now if nothing still views the memory; otherwise the mapping stays until the
        last view (a numpy array, an OpenVINO tensor of a finished request) goes away."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(BufferError):
            self.buffer.release()
            self.map.close()

    def unlink(self) -> None:
        unlink_segment(self.name)


def unlink_segment(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(name))


class Allocator:
    """First-fit allocator over ``size`` bytes with coalescing; single-threaded by design
    (one per front, used only from its event loop)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free_offsets: list[int] = [0]
        self._free_sizes: dict[int, int] = {0: size}
        self._used: dict[int, int] = {}

    @property
    def blocks_in_use(self) -> int:
        return len(self._used)

    def alloc(self, nbytes: int) -> int | None:
        n = aligned(nbytes)
        for i, off in enumerate(self._free_offsets):
            size = self._free_sizes[off]
            if size >= n:
                del self._free_offsets[i]
                del self._free_sizes[off]
                if size > n:
                    self._free_offsets.insert(i, off + n)
                    self._free_sizes[off + n] = size - n
                self._used[off] = n
                return off
        return None

    def release(self, offset: int) -> None:
        n = self._used.pop(offset)
        offs = self._free_offsets
        i = bisect.bisect_left(offs, offset)
        # merge with the next free block
        if i < len(offs) and offs[i] == offset + n:
            n += self._free_sizes.pop(offs[i])
            del offs[i]
        # merge with the previous free block
        if i > 0 and offs[i - 1] + self._free_sizes[offs[i - 1]] == offset:
            self._free_sizes[offs[i - 1]] += n
            return
        offs.insert(i, offset)
        self._free_sizes[offset] = n


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_dir(supervisor_pid: int) -> str:
    """Folder for the socket files (ZeroMQ control, workers' data plane) of one supervisor."""
    return os.path.join(tempfile.gettempdir(), f"{PREFIX}-{supervisor_pid}")


def _owner_pid(path: str) -> int | None:
    parts = os.path.basename(path).split("-")
    if len(parts) >= 2 and parts[0] == PREFIX and parts[1].isdigit():
        return int(parts[1])
    return None


def remove_owned(supervisor_pid: int) -> list[str]:
    """Remove every segment and the socket folder of ``supervisor_pid``; returns what it removed."""
    removed = []
    for path in glob.glob(os.path.join(SHM_DIR, f"{PREFIX}-{supervisor_pid}-*")):
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass
    folder = run_dir(supervisor_pid)
    if os.path.isdir(folder):
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def remove_stale() -> list[str]:
    """Remove what supervisors that no longer run left behind (after a SIGKILL, say)."""
    removed = []
    candidates = glob.glob(os.path.join(SHM_DIR, f"{PREFIX}-*")) + glob.glob(
        os.path.join(tempfile.gettempdir(), f"{PREFIX}-*")
    )
    for pid in {p for p in map(_owner_pid, candidates) if p is not None}:
        if pid != os.getpid() and not pid_alive(pid):
            removed += remove_owned(pid)
    return removed


def available_bytes() -> int:
    """Free space where segments live (a full tmpfs turns writes into SIGBUS, so plan for it)."""
    st = os.statvfs(SHM_DIR)
    return st.f_bavail * st.f_frsize
