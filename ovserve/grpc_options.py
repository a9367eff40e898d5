"""``--grpc_channel_arguments`` as OVMS reads it."""

from __future__ import annotations

from typing import Any


def parse_channel_arguments(text: str, cores: int) -> list[list[Any]]:
    """OVMS's ``k=v,k2=v2``: integer-looking values as ints, others as strings; OVMS first sets
    ``grpc.max_concurrent_streams`` to the core count, which a given value overrides."""
    pairs: list[list[Any]] = [["grpc.max_concurrent_streams", cores]]
    for item in [i.strip() for i in text.split(",") if i.strip()]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"grpc_channel_arguments has a wrong format: {item!r} (expected key=value)")
        value = value.strip()
        pairs.append([key.strip(), int(value) if value.lstrip("-").isdigit() else value])
    return pairs
