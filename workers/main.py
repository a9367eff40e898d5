"""Worker process: serves infer requests from the fronts (one Unix stream connection each) and
Load/Unload orders from the supervisor (ZeroMQ), one inference at a time on its pinned CPU set.

Its parts: the versions it serves (``served_versions``), descriptors read as jobs
(``job_reader``), the inferences (``inference``), batching (``batcher``), the loader thread that
compiles versions while serving goes on (``loader``), the fronts' connections (``connections``).
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
from ovserve.shared.lifetime import die_with_parent
from ovserve.shared.logsetup import setup_logging
from ovserve.workers.batcher import Job, Stats, batch_delay, group
from ovserve.workers.connections import FrontConnections
from ovserve.workers.inference import Inference
from ovserve.workers.job_reader import JobReader
from ovserve.workers.loader import Loader
from ovserve.workers.metrics import WorkerMetrics
from ovserve.workers.served_versions import ServedVersions

log = logging.getLogger("ovserve.worker")
REPLY_FLUSH_S = 0.002  # replies wait at most this long for others to share a message


class Worker:
    """The worker's two loops in one: control orders (loads through the loader thread, unloads
    with a grace period, arenas forgotten) and serving (requests read as jobs, grouped, run,
    answered per front)."""

    def __init__(self, settings: WorkerSettings, generation: int) -> None:
        from ovserve.workers import model_host  # imports openvino: only ever inside a worker

        index, run_dir = settings.index, settings.run_dir
        self.index = index
        self.generation = generation
        self.core = model_host.new_core(settings.cache_dir, settings.cpu_extension)
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.conns = FrontConnections(P.worker_path(run_dir, index), index, generation, self.poller)
        self.control = self.ctx.socket(zmq.DEALER)
        self.control.setsockopt(zmq.LINGER, 1000)
        self.control.connect(P.supervisor_endpoint(run_dir))
        self.loader = Loader(self.ctx, index, model_host, self.core)
        self.versions = ServedVersions()
        self.reader = JobReader(self.versions)
        self.stopping = False
        self.max_batch = settings.max_batch
        self.batch_delay_s = settings.batch_delay_us / 1e6
        self.stats = Stats(every_s=settings.stats_interval_s)
        self.metrics = WorkerMetrics(settings.supervisor_pid, index, bool(settings.metrics_families))
        self.inference = Inference(model_host, self.versions, self.stats, self.metrics)

    # ---- control ----------------------------------------------------------------------------
    def _finish_loads(self) -> None:
        for result in self.loader.finished():
            order = result.order
            if result.loaded is not None:
                result.loaded.slot = order.slot
                result.loaded.label = f"{order.name} v{order.version}"
                self.metrics.loaded(result.loaded)
                self.versions.add((order.name, order.version, order.instance), result.loaded)
                message = C.Loaded(self.index, order.instance, True, result.loaded.signature.to_wire())
            else:
                message = C.Loaded(self.index, order.instance, False, error=result.error)
            self.control.send(C.encode(message))

    def _on_control(self, msg: C.ControlMessage) -> None:
        if isinstance(msg, C.Load):
            self.loader.submit(msg)
        elif isinstance(msg, C.Unload):
            if not self.versions.retire((msg.name, msg.version, msg.instance)):
                self.control.send(C.encode(C.Unloaded(self.index, msg.instance)))
        elif isinstance(msg, C.ForgetArena):
            self.reader.forget_arena(msg.arena)

    def _release_retired(self) -> None:
        for key, loaded in self.versions.expired():
            self.metrics.loaded(loaded, -1)
            self.control.send(C.encode(C.Unloaded(self.index, key[2])))

    # ---- serving ------------------------------------------------------------------------------
    def _drain(
        self, fronts: list[socket.socket], jobs: list[Job], replies: dict[socket.socket, list[list[Any]]]
    ) -> None:
        for front in fronts:
            for message in self.conns.messages(front):
                try:
                    job = self.reader.job(front, message)
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
            for job, reply in zip(g, self.inference.run(g), strict=True):
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
            if self.versions.retiring:
                self._release_retired()
            if self.loader.wake in events:
                self._finish_loads()
            ready = self.conns.ready(events)
            if ready:
                self._serve(ready)
        self.loader.stop()
        self.versions.clear()
        self.reader.close()
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
