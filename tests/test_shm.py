import os

import numpy as np
from ovserve.shared.shm import ALIGN, Allocator, Segment, remove_owned, remove_stale, segment_name


def test_allocator_reuses_and_coalesces() -> None:
    a = Allocator(1024)
    x = a.alloc(100)
    y = a.alloc(100)
    z = a.alloc(100)
    assert x is not None and y is not None and z is not None
    assert (x, y, z) == (0, 128, 256)
    assert x % ALIGN == 0 and a.blocks_in_use == 3
    a.release(y)
    assert a.alloc(64) == 128
    a.release(128)
    a.release(x)
    a.release(z)
    assert a.blocks_in_use == 0
    assert a.alloc(1024) == 0  # everything merged back into one block
    assert a.alloc(1) is None


def test_segment_views_are_shared() -> None:
    name = segment_name(os.getpid(), "test-seg")
    owner = Segment(name, 4096, create=True)
    try:
        peer = Segment(name, 0, create=False)
        owner.view(64, np.float32, (2, 2))[:] = [[1, 2], [3, 4]]
        assert peer.view(64, "<f4", [2, 2]).tolist() == [[1, 2], [3, 4]]
        peer.close()
    finally:
        owner.close()
        owner.unlink()


def test_stale_segments_of_dead_owner_are_removed() -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    name = segment_name(dead.pid, "front0-g1")
    Segment(name, 64, create=True).close()
    assert os.path.exists(f"/dev/shm/{name}")
    remove_stale()
    assert not os.path.exists(f"/dev/shm/{name}")
    mine = segment_name(os.getpid(), "x")
    Segment(mine, 64, create=True).close()
    remove_stale()  # a live owner's segments stay
    assert os.path.exists(f"/dev/shm/{mine}")
    remove_owned(os.getpid())
    assert not os.path.exists(f"/dev/shm/{mine}")
