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
import zmq.asyncio

from shared import errors as E
from shared import protocol as P
from shared.errors import OvmsError
from shared.shm import ALIGN, Allocator, Segment
from shared.signature import Signature, TensorSpec

log = logging.getLogger("ovserve.front")
MAX_INFLIGHT_PER_WORKER = 512
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
    def __init__(self, arena: Segment, run_dir: str, timeout_s: float) -> None:
        self.arena = arena
        self.alloc = Allocator(arena.size)
        self.run_dir = run_dir
        self.timeout_s = timeout_s
        self.ctx = zmq.asyncio.Context()
        self.sockets: dict[int, zmq.asyncio.Socket] = {}
        self.readers: dict[int, asyncio.Task[None]] = {}
        self.generations: dict[int, int] = {}
        self.pending: dict[int, _Pending] = {}
        self.inflight: dict[int, int] = {}
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
        sock.setsockopt(zmq.SNDHWM, MAX_INFLIGHT_PER_WORKER * 2)
        sock.connect(P.worker_endpoint(self.run_dir, index))
        self.sockets[index] = sock
        self.generations[index] = generation
        self.inflight[index] = 0
        self.readers[index] = asyncio.get_running_loop().create_task(self._read(index, sock))

    def _drop_worker(self, index: int) -> None:
        sock = self.sockets.pop(index, None)
        self.generations.pop(index, None)
        reader = self.readers.pop(index, None)
        if reader is not None:
            reader.cancel()
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

    async def _read(self, index: int, sock: zmq.asyncio.Socket) -> None:
        while True:
            try:
                frames = await sock.recv_multipart()
            except asyncio.CancelledError:
                return
            except zmq.ZMQError:
                return
            try:
                header = P.unpack(frames[0])
                p = self.pending.pop(header[1], None)
            except Exception:  # a malformed reply must not kill the reader
                log.exception("bad reply from worker %d", index)
                continue
            if p is None:
                continue
            self.inflight[index] = self.inflight.get(index, 1) - 1
            if p.abandoned:
                self.alloc.release(p.block)
            elif not p.future.done():  # the handler may have been cancelled meanwhile
                p.future.set_result((header, frames[1:]))
            else:
                self.alloc.release(p.block)

    # ---- requests ---------------------------------------------------------------------------
    def _pick(self, workers: list[int]) -> int:
        best, load = -1, MAX_INFLIGHT_PER_WORKER
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
        self,
        model: str,
        version: int,
        workers: list[int],
        signature: Signature,
        inputs: list[tuple[TensorSpec, np.ndarray]],
    ) -> list[tuple[str, np.ndarray]]:
        worker = self._pick(workers)
        in_bytes = sum(_aligned(a.nbytes) for _, a in inputs)
        batch = inputs[0][1].shape[0] if inputs and inputs[0][1].ndim else 1
        out_bytes = self._output_reserve(signature, batch, in_bytes)
        block = self.alloc.alloc(in_bytes + out_bytes)
        if block is None:
            raise OvmsError(E.SERVER_OVERLOADED)
        descs = []
        cursor = block
        for spec, array in inputs:
            np.copyto(self.arena.view(cursor, array.dtype, array.shape), array)
            descs.append([spec.name, cursor, array.dtype.str, list(array.shape)])
            cursor += _aligned(array.nbytes)
        self.next_id += 1
        rid = self.next_id
        deadline = time.time() + self.timeout_s
        header = P.pack([P.INFER, rid, model, version, deadline, self.arena.name, descs, cursor, out_bytes])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = self.pending[rid] = _Pending(future, worker, block)
        self.inflight[worker] += 1
        try:
            self.sockets[worker].send(header, zmq.NOBLOCK)
        except zmq.Again:
            self.pending.pop(rid)
            self.inflight[worker] -= 1
            self.alloc.release(block)
            raise OvmsError(E.SERVER_OVERLOADED) from None
        try:
            header_in, extra = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            pending.abandoned = True
            raise OvmsError(E.DEADLINE_EXCEEDED) from None
        except asyncio.CancelledError:
            pending.abandoned = rid in self.pending
            if not pending.abandoned:
                self.alloc.release(block)
            raise
        try:
            return self._outputs(header_in, extra)
        finally:
            self.alloc.release(block)

    def _outputs(self, header: list[Any], extra: list[bytes]) -> list[tuple[str, np.ndarray]]:
        _, _, ok, payload = header
        if not ok:
            status_name, details = payload
            raise OvmsError(E.BY_NAME.get(status_name, E.INTERNAL_ERROR), details)
        outputs = []
        frames = iter(extra)
        for name, offset, dtype, shape in payload:
            if offset == P.INLINE:
                array = np.frombuffer(next(frames), dtype=dtype).reshape(shape)
            else:
                array = self.arena.view(offset, dtype, shape).copy()
            outputs.append((name, array))
        return outputs

    async def close(self) -> None:
        readers = list(self.readers.values())
        for index in list(self.sockets):
            self._drop_worker(index)
        await asyncio.gather(*readers, return_exceptions=True)
        self.ctx.term()
