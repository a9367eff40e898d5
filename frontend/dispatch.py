"""Front -> worker dispatch: tensors into this front's shared-memory arena, a descriptor over
ZeroMQ, the reply matched to its request by id.

Rules that keep it safe: a block of the arena is released only once its worker can no longer
write to it (reply received, or the worker known dead); a request whose client went away or
whose deadline passed is *abandoned*, not released, until then. Every queue is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from frontend.table import VersionEntry
from shared import errors as E
from shared import protocol as P
from shared.errors import OvmsError
from shared.shm import ALIGN, Allocator, Segment
from shared.signature import Signature, TensorSpec

log = logging.getLogger("ovserve.front")
MIN_OUTPUT_RESERVE = 64 * 1024


def _aligned(n: int) -> int:
    return max(ALIGN, (n + ALIGN - 1) & ~(ALIGN - 1))


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Any]
    worker: int
    block: int
    abandoned: bool = False


class Dispatcher:
    """Plain (not zmq.asyncio) sockets driven by the event loop: sends are coalesced per loop
    turn and per worker into one multipart message; replies are drained from the socket's file
    descriptor in a reader callback. No future or task per ZeroMQ operation."""

    def __init__(self, arena: Segment, run_dir: str, timeout_s: float, max_inflight: int = 512) -> None:
        self.max_inflight = max_inflight
        self.arena = arena
        self.alloc = Allocator(arena.size)
        self.run_dir = run_dir
        self.timeout_s = timeout_s
        self.ctx = zmq.Context()
        self.sockets: dict[int, zmq.Socket] = {}
        self.fds: dict[int, int] = {}
        self.generations: dict[int, int] = {}
        self.pending: dict[int, _Pending] = {}
        self.inflight: dict[int, int] = {}
        self.outbox: dict[int, list[bytes]] = {}
        self.flush_scheduled = False
        self.next_id = 0

    # ---- workers ----------------------------------------------------------------------------
    def set_workers(self, workers: dict[int, int]) -> None:
        """Follow the table: connect new workers; for a lost or restarted one, fail its
        in-flight requests and drop its socket (queued descriptors must not reach a new
        process)."""
        for index, gen in list(self.generations.items()):
            if workers.get(index) != gen:
                self._drop_worker(index)
        for index, gen in workers.items():
            if index not in self.sockets:
                self._connect(index, gen)

    def _connect(self, index: int, generation: int) -> None:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, self.max_inflight * 2)
        sock.connect(P.worker_endpoint(self.run_dir, index))
        self.sockets[index] = sock
        self.generations[index] = generation
        self.inflight[index] = 0
        fd = sock.getsockopt(zmq.FD)
        self.fds[index] = fd
        asyncio.get_running_loop().add_reader(fd, self._drain, index)

    def _drop_worker(self, index: int) -> None:
        sock = self.sockets.pop(index, None)
        self.generations.pop(index, None)
        self.outbox.pop(index, None)
        fd = self.fds.pop(index, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
        if sock is not None:
            sock.close(linger=0)
        failed = [rid for rid, p in self.pending.items() if p.worker == index]
        for rid in failed:
            p = self.pending.pop(rid)
            self.alloc.release(p.block)
            if not p.future.done():
                p.future.set_exception(OvmsError(E.WORKER_UNAVAILABLE))
        self.inflight.pop(index, None)
        if failed:
            log.warning("worker %d is gone: failed %d in-flight requests", index, len(failed))

    def _drain(self, index: int) -> None:
        """Read every reply waiting on a worker's socket (ZeroMQ's FD is edge-triggered:
        read until EVENTS says nothing is left)."""
        sock = self.sockets.get(index)
        while sock is not None and sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            for frame in frames:
                self._on_reply(index, frame)

    def _on_reply(self, index: int, frame: bytes) -> None:
        try:
            header = P.unpack(frame)
            p = self.pending.pop(header[1], None)
        except Exception:  # a malformed reply must not stop the reader
            log.exception("bad reply from worker %d", index)
            return
        if p is None:
            return
        self.inflight[index] = self.inflight.get(index, 1) - 1
        if p.abandoned or p.future.done():  # deadline passed or client gone: nobody reads it
            self.alloc.release(p.block)
        else:
            p.future.set_result(header)

    def _expire(self, rid: int) -> None:
        """Deadline passed: answer now; the block stays reserved until the worker replies or
        dies, since it may still write into it."""
        p = self.pending.get(rid)
        if p is not None and not p.future.done():
            p.abandoned = True
            self.arena.buffer[p.block] = P.CANCELLED
            p.future.set_exception(OvmsError(E.DEADLINE_EXCEEDED))

    def _flush(self) -> None:
        self.flush_scheduled = False
        outbox, self.outbox = self.outbox, {}
        for index, headers in outbox.items():
            sock = self.sockets.get(index)
            if sock is None:
                continue
            try:
                sock.send_multipart(headers, zmq.NOBLOCK)
            except zmq.Again:  # the worker's queue is full: fail these requests fast
                for header in headers:
                    p = self.pending.pop(P.unpack(header)[1], None)
                    if p is not None:
                        self.inflight[index] -= 1
                        self.alloc.release(p.block)
                        if not p.future.done():
                            p.future.set_exception(OvmsError(E.SERVER_OVERLOADED))
            # a send can swallow the FD's edge for replies that arrived meanwhile
            self._drain(index)

    # ---- requests ---------------------------------------------------------------------------
    def _pick(self, workers: list[int]) -> int:
        best, load = -1, self.max_inflight
        for w in workers:
            n = self.inflight.get(w)
            if n is not None and n < load:
                best, load = w, n
        if best < 0:
            if any(w in self.inflight for w in workers):
                raise OvmsError(E.SERVER_OVERLOADED)
            raise OvmsError(E.WORKER_UNAVAILABLE)
        return best

    @staticmethod
    def _output_reserve(signature: Signature, batch: int, input_bytes: int) -> int:
        total = 0
        for spec in signature.outputs:
            n = spec.static_nbytes(batch)
            if n is None:
                return max(MIN_OUTPUT_RESERVE, 4 * input_bytes, total)
            total += _aligned(n)
        return total

    async def infer(
        self, model: str, entry: VersionEntry, inputs: list[tuple[TensorSpec, np.ndarray]]
    ) -> list[tuple[str, np.ndarray]]:
        signature = entry.signature
        assert signature is not None
        worker = self._pick(entry.workers)
        in_bytes = sum(_aligned(a.nbytes) for _, a in inputs)
        batch = inputs[0][1].shape[0] if inputs and inputs[0][1].ndim else 1
        out_bytes = self._output_reserve(signature, batch, in_bytes)
        if ALIGN + in_bytes + out_bytes > self.alloc.size:
            raise OvmsError(E.TENSORS_TOO_LARGE)
        block = self.alloc.alloc(ALIGN + in_bytes + out_bytes)
        if block is None:
            raise OvmsError(E.SERVER_OVERLOADED)
        self.arena.buffer[block] = P.LIVE  # the block's first byte: cancelled or not
        descs = []
        cursor = block + ALIGN
        for spec, array in inputs:
            np.copyto(self.arena.view(cursor, array.dtype, array.shape), array)
            descs.append([spec.name, cursor, array.dtype.str, list(array.shape)])
            cursor += _aligned(array.nbytes)
        self.next_id += 1
        rid = self.next_id
        now = time.time()
        header = P.pack(
            [
                P.INFER,
                rid,
                model,
                entry.version,
                entry.instance,
                now,
                now + self.timeout_s,
                self.arena.name,
                block,
                descs,
                cursor,
                out_bytes,
            ]
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        pending = self.pending[rid] = _Pending(future, worker, block)
        self.inflight[worker] += 1
        self.outbox.setdefault(worker, []).append(header)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop.call_soon(self._flush)
        timer = loop.call_later(self.timeout_s, self._expire, rid)
        try:
            reply = await future  # OvmsError: deadline passed, or the worker died (block freed)
        except asyncio.CancelledError:  # the client went away
            pending.abandoned = rid in self.pending
            if pending.abandoned:
                self.arena.buffer[block] = P.CANCELLED  # the worker skips it if not started
            else:
                self.alloc.release(block)
            raise
        finally:
            timer.cancel()
        try:
            return self._outputs(reply)
        finally:
            self.alloc.release(block)

    def _outputs(self, header: list[Any]) -> list[tuple[str, np.ndarray]]:
        _, _, ok, payload = header
        if not ok:
            status_name, details = payload
            raise OvmsError(E.BY_NAME.get(status_name, E.INTERNAL_ERROR), details)
        outputs = []
        for name, offset, dtype, shape, *inline in payload:
            if offset == P.INLINE:
                array = np.frombuffer(inline[0], dtype=dtype).reshape(shape)
            else:
                array = self.arena.view(offset, dtype, shape).copy()
            outputs.append((name, array))
        return outputs

    def close(self) -> None:
        for index in list(self.sockets):
            self._drop_worker(index)
        self.ctx.term()
