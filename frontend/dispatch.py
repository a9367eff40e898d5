"""Front -> worker dispatch: tensors into this front's shared-memory arena, a descriptor over
the worker's connection (``worker_links``), the reply matched to its request by id.

Rules that keep it safe: a block of the arena is released only once its worker can no longer
write to it (reply received, or the worker known dead); a request whose client went away or
whose deadline passed is *abandoned*, not released, until then. Every queue is bounded.

Deadlines are enforced by one sweep, not a timer per request: every request gets the same
timeout, so the pending table (insertion-ordered) is in deadline order and the sweep stops at
the first request still in time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ovserve.frontend import arena_tensors
from ovserve.frontend.pipeline.fuse import Fused
from ovserve.frontend.table import VersionEntry
from ovserve.frontend.worker_links import WorkerLinks
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.messages import CANCELLED, LIVE, InferRequest, InferResult
from ovserve.shared.options import default
from ovserve.shared.shm import ALIGN, Allocator, Segment, aligned
from ovserve.shared.signature import TensorSpec
from ovserve.shared.wording import count

log = logging.getLogger("ovserve.front")


def sweep_period(timeout_s: float) -> float:
    """How often deadlines are checked: a deadline is answered at most this late."""
    return min(0.1, max(0.005, timeout_s / 20))


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Any]
    worker: int
    block: int
    deadline: float  # loop time
    abandoned: bool = False


class Dispatcher:
    def __init__(
        self, arena: Segment, run_dir: str, timeout_s: float, max_inflight: int = default("max_queue_per_worker")
    ) -> None:
        self.max_inflight = max_inflight
        self.arena = arena
        self.alloc = Allocator(arena.size)
        self.timeout_s = timeout_s
        self.pending: dict[int, _Pending] = {}
        self.inflight: dict[int, int] = {}  # per connected worker: requests not answered yet
        self.workers = WorkerLinks(run_dir, self._connected, self._on_reply, self._gone, self._refuse)
        self.next_id = 0
        self.loop = asyncio.get_running_loop()
        self.sweep_s = sweep_period(timeout_s)
        self._sweeper: asyncio.TimerHandle | None = None

    # ---- workers ----------------------------------------------------------------------------
    def set_workers(self, workers: dict[int, int]) -> None:
        """Follow the table (worker -> generation): a lost or restarted worker's requests in
        flight fail; new ones are connected."""
        self.workers.set_workers(workers)

    def _connected(self, index: int) -> None:
        self.inflight[index] = 0

    def _gone(self, index: int) -> None:
        """The worker's connection is gone: fail what it had; their blocks can be reused, since
        that process writes into them no more."""
        failed = [rid for rid, p in self.pending.items() if p.worker == index]
        for rid in failed:
            p = self.pending.pop(rid)
            self.alloc.release(p.block)
            if not p.future.done():
                p.future.set_exception(OvmsError(E.WORKER_UNAVAILABLE))
        self.inflight.pop(index, None)
        if failed:
            log.warning("worker %d is gone: failed %s in flight", index, count(len(failed), "request"))

    def _on_reply(self, index: int, result: InferResult) -> None:
        p = self.pending.pop(result.rid, None)
        if p is None:
            return
        self.inflight[index] = self.inflight.get(index, 1) - 1
        if p.abandoned or p.future.done():  # deadline passed or client gone: nobody reads it
            self.alloc.release(p.block)
        else:
            p.future.set_result(result)

    def _sweep(self) -> None:
        """Answer every request past its deadline now; a block stays reserved until its worker
        replies or dies, since the worker may still write into it."""
        self._sweeper = None
        now = self.loop.time()
        for p in self.pending.values():
            if p.deadline > now:
                break
            if not p.future.done():
                p.abandoned = True
                self.arena.buffer[p.block] = CANCELLED
                p.future.set_exception(OvmsError(E.DEADLINE_EXCEEDED))
        if self.pending:
            self._sweeper = self.loop.call_later(self.sweep_s, self._sweep)

    def _refuse(self, index: int, messages: list[list[Any]]) -> None:
        for message in messages:
            p = self.pending.pop(message[1], None)  # the request id (messages.InferRequest)
            if p is not None:
                self.inflight[index] -= 1
                self.alloc.release(p.block)
                if not p.future.done():
                    p.future.set_exception(OvmsError(E.SERVER_OVERLOADED))

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

    async def infer(
        self,
        model: str,
        entry: VersionEntry,
        inputs: list[tuple[TensorSpec, np.ndarray]],
        held: list[int] | None = None,
        fused: Fused | None = None,
    ) -> list[tuple[str, np.ndarray]]:
        """The outputs, copied out of the arena. With ``held`` (a pipeline): views of the block
        instead, its offset appended to ``held`` for the caller to ``release`` once later nodes
        have read them; inputs that are such views already are passed by offset, not copied.
        With ``fused``: a pipeline's chain for one worker to run whole (``entry``: its first node)."""
        signature = entry.signature if fused is None else fused.outputs
        assert signature is not None
        worker = self._pick(entry.workers if fused is None else fused.workers)
        sizes = arena_tensors.measure(inputs, self.arena if held is not None else None)
        in_bytes = sum(aligned(n) for n, _, _ in sizes)
        batch = inputs[0][1].shape[0] if inputs and inputs[0][1].ndim else 1
        # inputs passed by offset take no room, but the outputs' reserve counts them
        reserve_for = in_bytes if held is None else max(in_bytes, sum(a.nbytes for _, a in inputs))
        out_bytes = arena_tensors.output_reserve(signature, batch, reserve_for)
        size = ALIGN + in_bytes + out_bytes
        if size > self.alloc.size:
            raise OvmsError(E.TENSORS_TOO_LARGE)
        block = self.alloc.alloc(size)
        if block is None:
            raise OvmsError(E.SERVER_OVERLOADED)
        end = block + size
        if not self.arena.commit(end):
            self.alloc.release(block)
            raise OvmsError(E.SHARED_MEMORY_FULL)
        self.arena.buffer[block] = LIVE  # the block's first byte: cancelled or not
        descs, cursor = arena_tensors.write_inputs(self.arena, block + ALIGN, inputs, sizes)
        self.next_id += 1
        rid = self.next_id
        now = time.time()
        request = InferRequest(
            rid, model, entry.version, entry.instance, now, now + self.timeout_s, self.arena.name, block, descs,
            cursor, out_bytes, fused.chain if fused is not None else None,
        )  # fmt: skip
        loop = self.loop
        future: asyncio.Future[Any] = loop.create_future()
        pending = self.pending[rid] = _Pending(future, worker, block, loop.time() + self.timeout_s)
        self.inflight[worker] += 1
        self.workers.send(worker, request.encode())
        if self._sweeper is None:
            self._sweeper = loop.call_later(self.sweep_s, self._sweep)
        try:
            reply = await future  # OvmsError: deadline passed, or the worker died (block freed)
        except asyncio.CancelledError:  # the client went away
            pending.abandoned = rid in self.pending
            if pending.abandoned:
                self.arena.buffer[block] = CANCELLED  # the worker skips it if not started
            elif future.done() and not future.cancelled() and future.exception() is None:
                self.alloc.release(block)  # its reply came: the block is still this request's
            # else it failed (worker gone, refused) and the block was released with the failure
            raise
        try:
            outputs = arena_tensors.read_outputs(self.arena, reply, end, copy=held is None)
        except BaseException:
            self.alloc.release(block)
            raise
        if held is None:
            self.alloc.release(block)
        else:
            held.append(block)
        return outputs

    def release(self, block: int) -> None:
        """A block ``infer`` left held."""
        self.alloc.release(block)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self.workers.close()
