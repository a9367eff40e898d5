"""The string-tensor wire format: round trips, and bounds a corrupt block cannot break."""

from __future__ import annotations

import struct

import pytest
from ovserve.shared.strings import pack, pack_into, packed_size, unpack


@pytest.mark.parametrize("items", [[], [b""], [b"a", b"", b"\x00\xffz" * 100], [bytes([i]) * i for i in range(50)]])
def test_round_trip(items: list[bytes]) -> None:
    data = pack(items)
    assert len(data) == packed_size(items)
    assert unpack(data) == items
    arena = bytearray(16 + len(data) + 16)
    assert pack_into(items, memoryview(arena), 16) == len(data)
    assert unpack(memoryview(arena), 16, len(data)) == items


def corrupt(count: int, offsets: list[int], data: bytes) -> bytes:
    return struct.pack(f"<q{len(offsets)}q", count, *offsets) + data


@pytest.mark.parametrize(
    "block",
    [
        b"",
        b"\x01" * 7,
        corrupt(-1, [0], b""),
        corrupt(2**60, [0], b""),  # a count whose table cannot fit
        corrupt(2, [0, 3], b"abc"),  # table shorter than the count says
        corrupt(1, [1, 2], b"ab"),  # does not start at 0
        corrupt(2, [0, 3, 1], b"abc"),  # goes backwards
        corrupt(1, [0, 10], b"abc"),  # runs past the end
    ],
)
def test_corrupt_blocks_fail_cleanly(block: bytes) -> None:
    with pytest.raises(ValueError):
        unpack(block)


def test_limit_is_honoured() -> None:
    data = pack([b"abc"]) + b"more"
    assert unpack(data, 0, len(data) - 4) == [b"abc"]
    with pytest.raises(ValueError):
        unpack(data, 0, len(data) - 5)  # the item's last byte is outside the limit
