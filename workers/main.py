"""Worker process: serves infer requests from the fronts (one Unix stream connection each) and
LOAD/UNLOAD orders from the supervisor (ZeroMQ), one inference at a time on its pinned CPU set.

Model compilation runs on a loader thread so that serving continues while a new version loads
(a reload never stalls the versions already being served).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import time
from typing import Any

import zmq
from ovserve.shared import control as C
from ovserve.shared import protocol as P
from ovserve.shared.child_settings import WorkerSettings
from ovserve.shared.errors import (
    DEADLINE_EXCEEDED,
    INTERNAL_ERROR,
    MODEL_VERSION_NOT_LOADED_ANYMORE,
    NAME_OF,
    OV_INTERNAL_INFERENCE_ERROR,
)
from ovserve.shared.lifetime import die_with_parent
from ovserve.shared.logsetup import setup_logging
from ovserve.shared.messages import CANCELLED, ChainStep, InferRequest, InferResult
from ovserve.shared.shm import Segment
from ovserve.workers.batcher import Job, Stats, batch_delay, group, merged_inputs, split_outputs
from ovserve.workers.chain import StepGone, run_chain
from ovserve.workers.connections import FrontConnections
from ovserve.workers.loader import Loader
from ovserve.workers.metrics import WorkerMetrics
from ovserve.workers.tensors import input_array, result_message

log = logging.getLogger("ovserve.worker")
REPLY_FLUSH_S = 0.002  # replies wait at most this long for others to share a message
RETIRE_GRACE_S = 0.5  # an unloaded instance keeps serving requests already on their way to it


class Worker:
    def __init__(self, settings: WorkerSettings, generation: int) -> None:
        from ovserve.workers import model_host  # imports openvino: only ever inside a worker

        self.host = model_host
        index, run_dir = settings.index, settings.run_dir
        self.index = index
        self.generation = generation
        self.core = model_host.ov.Core()
        # Weights are read into memory, not mapped: a model file truncated or rewritten while it
        # is being loaded would otherwise be a SIGBUS in this process, not a failed load.
        self.core.set_property({"ENABLE_MMAP": False})
        if settings.cache_dir:
            self.core.set_property({"CACHE_DIR": settings.cache_dir})
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.conns = FrontConnections(P.worker_path(run_dir, index), index, generation, self.poller)
        self.control = self.ctx.socket(zmq.DEALER)
        self.control.setsockopt(zmq.LINGER, 1000)
        self.control.connect(P.supervisor_endpoint(run_dir))
        self.loader = Loader(self.ctx, index, model_host, self.core)
        self.versions: dict[tuple[str, int, int], Any] = {}  # (model, version, instance) -> loaded
        self.retiring: dict[tuple[str, int, int], tuple[Any, float]] = {}  # -> (loaded, last use)
        self.arenas: dict[str, Segment] = {}
        self.stopping = False
        self.max_batch = settings.max_batch
        self.batch_delay_s = settings.batch_delay_us / 1e6
        self.stats = Stats(every_s=settings.stats_interval_s)
        self.metrics = WorkerMetrics(settings.supervisor_pid, index, bool(settings.metrics_families))

    def _finish_loads(self) -> None:
        for result in self.loader.finished():
            order = result.order
            if result.loaded is not None:
                result.loaded.slot = order.slot
                result.loaded.label = f"{order.name} v{order.version}"
                self.metrics.loaded(result.loaded)
                self.versions[(order.name, order.version, order.instance)] = result.loaded
                message = C.Loaded(self.index, order.instance, True, result.loaded.signature.to_wire())
            else:
                message = C.Loaded(self.index, order.instance, False, error=result.error)
            self.control.send(C.encode(message))

    # ---- control ----------------------------------------------------------------------------
    def _on_control(self, msg: C.ControlMessage) -> None:
        if isinstance(msg, C.Load):
            self.loader.submit(msg)
        elif isinstance(msg, C.Unload):
            key = (msg.name, msg.version, msg.instance)
            loaded = self.versions.pop(key, None)
            if loaded is None:
                self.control.send(C.encode(C.Unloaded(self.index, msg.instance)))
            else:  # fronts stop routing here once the new table reaches them; serve stragglers
                self.retiring[key] = (loaded, time.monotonic())
        elif isinstance(msg, C.ForgetArena):
            seg = self.arenas.pop(msg.arena, None)
            if seg is not None:
                seg.close()

    def _release_retired(self) -> None:
        now = time.monotonic()
        for key, (loaded, last_use) in list(self.retiring.items()):
            if now - last_use >= RETIRE_GRACE_S:
                del self.retiring[key]
                self.metrics.loaded(loaded, -1)
                self.control.send(C.encode(C.Unloaded(self.index, key[2])))

    # ---- data -------------------------------------------------------------------------------
    def _arena(self, name: str) -> Segment:
        seg = self.arenas.get(name)
        if seg is None:
            seg = self.arenas[name] = Segment(name, 0, create=False)
        return seg

    @staticmethod
    def _error(rid: int, status: Any, details: str = "") -> list[Any]:
        return InferResult.failure(rid, NAME_OF[status], details).encode()

    def _loaded(self, key: tuple[str, int, int]) -> Any | None:
        """A loaded version, or one retiring that still serves requests on their way to it."""
        loaded = self.versions.get(key)
        if loaded is None:
            retired = self.retiring.get(key)
            if retired is None:
                return None
            loaded = retired[0]
            self.retiring[key] = (loaded, time.monotonic())
        return loaded

    def _job(self, front: socket.socket, message: list[Any]) -> Job | list[Any]:
        """An infer request as a Job, or the encoded error result that answers it at once."""
        req = InferRequest.decode(message)
        key = (req.model, req.version, req.instance)
        loaded = self._loaded(key)
        if loaded is None:
            return self._error(req.rid, MODEL_VERSION_NOT_LOADED_ANYMORE)
        if time.time() > req.deadline:
            return self._error(req.rid, DEADLINE_EXCEEDED)  # the front has answered already: drop the work
        try:
            arena = self._arena(req.arena)
            if arena.buffer[req.block] == CANCELLED:
                return self._error(req.rid, DEADLINE_EXCEEDED)  # nobody waits for it any more
            arrays = [(t.name, input_array(arena, t, req.out_offset)) for t in req.inputs]
        except (OSError, ValueError, TypeError) as exc:  # e.g. the front died and its arena is gone
            log.warning("request %d: cannot read its tensors: %s", req.rid, exc)
            return self._error(req.rid, INTERNAL_ERROR)
        return Job(front, req.rid, key, loaded, arena, arrays, req.out_offset, req.out_size, req.sent, req.chain)

    def _run_chain(self, job: Job) -> list[Any]:
        """A pipeline's chain of nodes, one inference after another; each counts for its model."""

        def step(s: ChainStep, loaded: Any, inputs: list[tuple[str, Any]]) -> list[Any]:
            started = time.time()
            self.metrics.begin(loaded.slot)
            try:
                outputs = self.host.infer(loaded, inputs)
            finally:
                self.metrics.end(loaded.slot)
            self._account(loaded.label, loaded.slot, [job], started)
            return outputs

        try:
            outputs = run_chain(job.chain, job.loaded, job.arrays, self._loaded, step)
        except StepGone:
            return self._error(job.rid, MODEL_VERSION_NOT_LOADED_ANYMORE)
        except Exception as exc:
            return self._failed([job], f"pipeline chain from {job.key[0]}", exc)[0]
        return result_message(job, [array for _, array in outputs], [name for name, _ in outputs])

    def _run(self, jobs: list[Job]) -> list[list[Any]]:
        """One inference for the group (or one each, when outputs cannot be split back)."""
        if jobs[0].chain is not None:
            return [self._run_chain(jobs[0])]  # a chain is always a group of its own
        started = time.time()
        name = jobs[0].loaded.label
        slot = jobs[0].loaded.slot
        self.metrics.begin(slot)
        try:
            if len(jobs) > 1:
                outputs = self.host.infer(jobs[0].loaded, merged_inputs(jobs))
                per_job = split_outputs(jobs, outputs)
                if per_job is not None:
                    replies = [result_message(j, outs) for j, outs in zip(jobs, per_job, strict=True)]
                    self._account(name, slot, jobs, started)
                    return replies
            replies = []
            for job in jobs:
                t0 = time.time()
                replies.append(result_message(job, self.host.infer(job.loaded, job.arrays)))
                self._account(name, slot, [job], t0)
            return replies
        except Exception as exc:
            return self._failed(jobs, name, exc)
        finally:
            self.metrics.end(slot)

    def _failed(self, jobs: list[Job], what: str, exc: Exception) -> list[list[Any]]:
        log.error("inference on %s failed: %s", what, exc)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return [self._error(j.rid, OV_INTERNAL_INFERENCE_ERROR, detail) for j in jobs]

    def _account(self, name: str, slot: int, jobs: list[Job], started: float) -> None:
        """One inference that served ``jobs``: into the logged stats and the metrics."""
        compute_s = time.time() - started
        queued = [started - j.sent for j in jobs]
        self.stats.add(name, len(jobs), sum(queued), compute_s)
        self.metrics.inference(slot, queued, compute_s)

    # ---- serving ------------------------------------------------------------------------------
    def _drain(
        self, fronts: list[socket.socket], jobs: list[Job], replies: dict[socket.socket, list[list[Any]]]
    ) -> None:
        for front in fronts:
            for message in self.conns.messages(front):
                try:
                    job = self._job(front, message)
                except Exception:  # a malformed descriptor must not stop the worker
                    log.exception("dropping a malformed request descriptor")
                    continue
                if isinstance(job, Job):
                    jobs.append(job)
                else:
                    replies.setdefault(front, []).append(job)

    def _serve(self, ready: list[socket.socket]) -> None:
        """Everything queued now on the ``ready`` connections: answer errors, merge what can be
        merged, run, reply per group so that a long queue does not hold back the answers already
        computed."""
        jobs: list[Job] = []
        replies: dict[socket.socket, list[list[Any]]] = {}
        self._drain(ready, jobs, replies)
        delay = batch_delay(jobs, self.batch_delay_s, self.max_batch)
        if delay > 0:  # a batch could not fill: wait a little for more
            self._drain(self.conns.readable(delay), jobs, replies)
        flushed = time.monotonic()
        for g in group(jobs, self.max_batch):
            # a front whose connection was dropped has released its blocks: never write into them
            g = [job for job in g if job.front in self.conns.fronts]
            if not g:
                continue
            for job, reply in zip(g, self._run(g), strict=True):
                replies.setdefault(job.front, []).append(reply)
            if time.monotonic() - flushed > REPLY_FLUSH_S:  # long inferences: do not hold answers back
                self.conns.send(replies)
                replies, flushed = {}, time.monotonic()
        self.conns.send(replies)  # one frame per front for everything computed meanwhile
        self.stats.maybe_log(self.index)

    # ---- main loop --------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when we stop
        self.loader.start()
        self.control.send(C.encode(C.Hello(C.WORKER, self.index, os.getpid(), self.generation)))
        poller = self.poller
        poller.register(self.control, zmq.POLLIN)
        poller.register(self.loader.wake, zmq.POLLIN)
        while not self.stopping:
            events = dict(poller.poll(200))
            if self.conns.listener.fileno() in events:  # raw sockets are reported by descriptor
                self.conns.accept()
            if self.control in events:
                while self.control.poll(0):
                    self._on_control(C.decode(self.control.recv()))
            if self.retiring:
                self._release_retired()
            if self.loader.wake in events:
                self._finish_loads()
            ready = self.conns.ready(events)
            if ready:
                self._serve(ready)
        self.loader.stop()
        self.versions.clear()
        for seg in self.arenas.values():
            seg.close()
        self.conns.close_all()
        self.control.close()
        self.ctx.term()
        return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ovserve-worker")
    p.add_argument("--settings", required=True, help="WorkerSettings as JSON")
    p.add_argument("--generation", type=int, default=1)
    a = p.parse_args(argv)
    settings = WorkerSettings.from_arg(a.settings)
    die_with_parent(settings.supervisor_pid)
    os.sched_setaffinity(0, set(settings.cpus))  # before openvino starts its threads
    setup_logging(f"worker{settings.index}", settings.log_level, settings.log_path)
    return Worker(settings, a.generation).run()
