"""The wire format of a string tensor (variable-length items) in shared memory or inline, between
fronts and workers: ``count`` (int64), then ``count + 1`` int64 offsets (where each item starts
and the last one ends, counted from the first byte after this table), then the items' bytes back
to back. A reader trusts nothing: the count must fit the space given, the offsets must rise from
0 and stay inside it, so a corrupt or hostile block can only fail to unpack, never read past
its end.

A tensor of this format travels with ``STRING_DTYPE`` as its dtype text.
"""

from __future__ import annotations

import itertools

import numpy as np

STRING_DTYPE = "|O"  # numpy's text for object arrays: items are bytes
_INT = np.dtype("<i8")


def packed_size(items: list[bytes]) -> int:
    return _INT.itemsize * (len(items) + 2) + sum(len(i) for i in items)


def pack_into(items: list[bytes], buffer: memoryview, offset: int) -> int:
    """Write ``items`` at ``offset`` of ``buffer``; returns the bytes written."""
    n = len(items)
    table = np.ndarray(n + 2, dtype=_INT, buffer=buffer, offset=offset)
    table[0] = n
    table[1] = 0
    if n:
        np.cumsum([len(i) for i in items], out=table[2:])
    cursor = offset + _INT.itemsize * (n + 2)
    start = cursor
    for item in items:
        end = cursor + len(item)
        buffer[cursor:end] = item
        cursor = end
    return cursor - start + _INT.itemsize * (n + 2)


def pack(items: list[bytes]) -> bytes:
    out = bytearray(packed_size(items))
    pack_into(items, memoryview(out), 0)
    return bytes(out)


def unpack(buffer: memoryview | bytes, offset: int = 0, limit: int | None = None) -> list[bytes]:
    """The items at ``offset``, within ``limit`` bytes (default: to the end of ``buffer``);
    ``ValueError`` when the block does not hold a well-formed table and its items."""
    view = memoryview(buffer)
    end = len(view) if limit is None else min(len(view), offset + limit)
    if offset < 0 or end - offset < 2 * _INT.itemsize:
        raise ValueError("string tensor: no room for its table")
    n = int(np.frombuffer(view, dtype=_INT, count=1, offset=offset)[0])
    head = _INT.itemsize * (n + 2) if n >= 0 else -1
    if n < 0 or head > end - offset:
        raise ValueError(f"string tensor: {n} items do not fit {end - offset} bytes")
    ends = np.frombuffer(view, dtype=_INT, count=n + 1, offset=offset + _INT.itemsize)
    data = offset + head
    if ends[0] != 0 or (n and (np.any(np.diff(ends) < 0) or int(ends[-1]) > end - data)):
        raise ValueError("string tensor: offsets out of order or past the end")
    bounds = ends.tolist()
    return [bytes(view[data + a : data + b]) for a, b in itertools.pairwise(bounds)]
