"""The wire protocol between supervisor, fronts and workers: one place for every message.

Two planes, both msgpack:

* data plane (one Unix stream connection per front and worker): small infer requests whose
  tensors live in the front's shared-memory arena, answered by results pointing at outputs that
  the worker wrote into the same arena (or, when they did not fit the reservation, carried
  inline); ``shared/messages.py`` types them. A frame (4-byte little-endian length + msgpack
  list) carries every request a front dispatched to that worker in one event-loop turn, and the
  worker answers with frames of results. Not ZeroMQ: its I/O threads cost four thread wake-ups
  per round trip, 50 us of CPU per request on each side on a 2-vCPU VM against 19 us for a plain
  socket (bench/ipc_cost.py), and they were the top item of the front's profile;
* control plane (everyone DEALER -> supervisor ROUTER, ZeroMQ): the typed messages of
  ``shared/control.py``; rare, and ZeroMQ's reconnects and identities are worth its cost there.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from typing import Any

import msgpack

# ---- data plane -----------------------------------------------------------------------------
# The messages themselves (Attach, InferRequest, InferResult) are typed in shared/messages.py;
# this module frames them.

# ---- control plane ----------------------------------------------------------------------------
# The messages are typed in shared/control.py; they travel packed by ``pack``.


def pack(message: Any) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def unpack(data: bytes | memoryview) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def supervisor_endpoint(run_dir: str) -> str:
    return "ipc://" + os.path.join(run_dir, "control.sock")


def worker_path(run_dir: str, index: int) -> str:
    """The worker's data-plane listening socket."""
    return os.path.join(run_dir, f"worker-{index}.data")


_LENGTH = struct.Struct("<I")
MAX_FRAME = 1 << 31
READ_CHUNK = 1 << 20
log = logging.getLogger("ovserve.protocol")


def frame(messages: list[Any]) -> bytes:
    """Data-plane frame of a list of encoded messages (``shared.messages``)."""
    body = pack(messages)
    return _LENGTH.pack(len(body)) + body


class FrameReader:
    """Reassembles frames from a byte stream; owns the buffer its socket is read into (a recv of
    a fresh 1 MiB bytes object costs an mmap, an mremap and an munmap per call)."""

    __slots__ = ("buffer", "scratch")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.scratch: bytearray | None = None  # allocated at the first read

    def feed(self, data: bytes | memoryview) -> list[Any]:
        """Messages of every frame completed by ``data``, in order."""
        if not self.buffer and len(data) >= 4 and _LENGTH.unpack_from(data)[0] + 4 == len(data):
            with memoryview(data) as view, view[4:] as body:
                return unpack(body)  # the usual case: exactly one whole frame
        self.buffer += data
        messages: list[Any] = []
        buffer = self.buffer
        start = 0
        with memoryview(buffer) as view:  # released before the buffer shrinks
            while len(buffer) - start >= 4:
                (n,) = _LENGTH.unpack_from(buffer, start)
                if n >= MAX_FRAME:
                    raise ValueError(f"frame of {n} bytes")
                if len(buffer) - start - 4 < n:
                    break
                with view[start + 4 : start + 4 + n] as body:
                    messages += unpack(body)
                start += 4 + n
        del buffer[:start]
        return messages


def receive(sock: socket.socket, reader: FrameReader) -> tuple[list[Any], bool]:
    """Every message waiting on a non-blocking data-plane socket, and whether the stream is still
    open (False: the peer closed it, or sent a corrupt frame after which nothing can be trusted).
    A short read ends the call: both ends wait on the socket level-triggered, so more data wakes
    them again, and the extra recv that would only say EAGAIN is saved."""
    messages: list[Any] = []
    scratch = reader.scratch
    if scratch is None:
        scratch = reader.scratch = bytearray(READ_CHUNK)
    while True:
        try:
            n = sock.recv_into(scratch)
        except BlockingIOError:
            return messages, True
        except OSError:
            n = 0
        if not n:
            return messages, False
        try:
            with memoryview(scratch) as view, view[:n] as data:
                messages += reader.feed(data)
        except Exception:
            log.exception("closing a data-plane connection after a malformed frame")
            return messages, False
        if n < READ_CHUNK:
            return messages, True
