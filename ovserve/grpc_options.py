"""``--grpc_channel_arguments`` as OVMS reads it, over ovserve's stream defaults."""

from __future__ import annotations

from typing import Any

# gRPC core's "overload protection" (on by default) counts a stream against
# MAX_CONCURRENT_STREAMS until the server has freed it, which is after the client has seen it
# finish: a client that keeps within the advertised limit then gets its next stream refused
# (RST_STREAM REFUSED_STREAM, "UNAVAILABLE: Stream removed"). Off, the server counts streams as
# HTTP/2 does and the client queues what is over the limit. Measured by bench/grpc_streams.py.
OVERLOAD_PROTECTION = "grpc.http.overload_protection"
# Streams per connection. OVMS advertises its core count (a thread pool's concern; grpc.aio has
# none): on 2 CPUs a client with 64 calls in flight on one channel then got 1,966 calls/s against
# 3,511 with 64 (bench/grpc_streams.py). What bounds the work is the fronts' own admission
# (--grpc_memory_quota, --max_queue_per_worker), which answers with gRPC codes.
MIN_STREAMS = 64


def parse_channel_arguments(text: str, cores: int) -> list[list[Any]]:
    """The gRPC server's options: ovserve's defaults (``grpc.max_concurrent_streams`` = the core
    count, as OVMS, but at least 64; gRPC's overload protection off), then OVMS's ``k=v,k2=v2``
    (integer-looking values as ints, others as strings), which may override them."""
    pairs: list[list[Any]] = [["grpc.max_concurrent_streams", max(cores, MIN_STREAMS)], [OVERLOAD_PROTECTION, 0]]
    for item in [i.strip() for i in text.split(",") if i.strip()]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"grpc_channel_arguments has a wrong format: {item!r} (expected key=value)")
        value = value.strip()
        pairs.append([key.strip(), int(value) if value.lstrip("-").isdigit() else value])
    return pairs
