"""The base of every front process (gunicorn's worker base, in spirit): what an HTTP front and a
gRPC front share. ``run`` sets up the process (logging, parent watch), the shared-memory arena,
the dispatcher to the workers, the data plane and the control channel; waits for the first
routing table; lets the subclass serve; and on SIGTERM stops accepting, drains in-flight
requests for the grace period, and releases everything."""

from __future__ import annotations

import abc
import argparse
import asyncio
import ctypes
import logging
import os
import signal
from typing import Protocol

import uvloop
import zmq.asyncio
from ovserve.frontend.control import Control
from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.dispatch import Dispatcher
from ovserve.frontend.metrics import FrontMetrics
from ovserve.shared.child_settings import FrontSettings
from ovserve.shared.lifetime import die_with_parent
from ovserve.shared.logsetup import setup_logging
from ovserve.shared.shm import Segment, segment_name
from ovserve.shared.tls import TlsError

log = logging.getLogger("ovserve.front")
DRAIN_POLL_S = 0.05


class ReloadableTls(Protocol):
    def reload(self) -> None: ...


class FrontProcess(abc.ABC):
    kind = "front"

    def __init__(self, settings: FrontSettings, generation: int) -> None:
        self.settings = settings
        self.generation = generation

    # ---- what a protocol's front provides ------------------------------------------------------
    @abc.abstractmethod
    async def start_serving(self) -> None:
        """Start accepting on the inherited listening sockets (``settings.listen_fds``)."""

    @abc.abstractmethod
    async def stop_accepting(self) -> None:
        """Accept no new connections; requests in progress go on."""

    @abc.abstractmethod
    def open_connections(self) -> int:
        """Connections still open; an idle keep-alive one should be closed by this call."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """The grace period is over: drop what is left."""

    tls: ReloadableTls | None = None  # the port's TLS, set by ``start_serving``; None: plain

    def reload_tls(self) -> None:
        """Read the port's certificate files again (SIGHUP); a broken file keeps the current one."""
        if self.tls is None:
            return
        try:
            self.tls.reload()
            log.info("TLS: certificate files read again; new connections get them")
        except TlsError as exc:
            log.error("TLS: keeping the current certificate: %s", exc)

    # ---- the process ----------------------------------------------------------------------------
    def run(self) -> int:
        die_with_parent(self.settings.supervisor_pid)
        s = self.settings
        setup_logging(f"{self.kind.replace(' ', '_')}{s.index}", s.log_level, s.log_path)
        return uvloop.run(self._main())  # grpc.aio runs on uvloop too

    async def _main(self) -> int:
        s = self.settings
        loop = asyncio.get_running_loop()
        # the supervisor passes its SIGHUP on: certificates are read again (never a stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        arena_name = segment_name(s.supervisor_pid, f"front{s.index}-g{self.generation}")
        self.arena = Segment(arena_name, s.arena_bytes, create=True)
        ctx = zmq.asyncio.Context()
        self.dispatcher = Dispatcher(self.arena, s.run_dir, s.request_timeout_s, s.max_queue_per_worker)
        self.metrics = FrontMetrics(s.supervisor_pid, s.index, s.metrics_families)
        self.dataplane = DataPlane(self.dispatcher, self._reload, self.metrics)
        self.control = Control(ctx, s.run_dir, self.dataplane, self.dispatcher)
        control_task = loop.create_task(self.control.run())
        try:
            await self.control.hello(s.index, os.getpid(), self.generation, arena_name)
            await self.control.first_table.wait()
            await self.start_serving()
            await self.control.serving(s.index)
            stop = asyncio.Event()
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            loop.add_signal_handler(signal.SIGINT, lambda: None)  # the supervisor decides
            log.info("%s %d ready (pid %d)", self.kind, s.index, os.getpid())
            await stop.wait()
            await self._drain(loop)
        finally:
            control_task.cancel()
            await asyncio.gather(control_task, return_exceptions=True)
            self.control.close()
            self.dispatcher.close()
            ctx.term()
            self.arena.unlink()
        return 0

    async def _reload(self) -> tuple[int, str | None]:
        return await self.control.reload()

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        await self.stop_accepting()
        deadline = loop.time() + self.settings.shutdown_grace_s
        while loop.time() < deadline:
            open_now = self.open_connections()
            if not open_now and not self.dataplane.lifecycle.active and not self.dispatcher.pending:
                break
            await asyncio.sleep(DRAIN_POLL_S)
        await self.abort()


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 32 * 1024**2  # the most glibc's own sliding threshold reaches on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # glibc's own ratio


def keep_freed_memory() -> None:
    """Set glibc's allocator to where its sliding thresholds end up, from the start. A front
    allocates each request's buffers anew (gRPC's core, the HTTP body); with the defaults a large
    block is mmapped, or the heap's top trimmed, and given back to the kernel when freed, so every
    request pays its page faults again (measured with a 600 KB tensor: 55 faults per gRPC call, 8
    with this; the REST fronts 6-13, 0 with this). The cost: up to 64 MiB of freed heap stays mapped."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    except (OSError, AttributeError):  # not glibc: its allocator's defaults stand
        pass


def main(front_class: type[FrontProcess], argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"ovserve-{front_class.kind}")
    p.add_argument("--settings", required=True, help="FrontSettings as JSON")
    p.add_argument("--generation", type=int, default=1)
    args = p.parse_args(argv)
    keep_freed_memory()
    return front_class(FrontSettings.from_arg(args.settings), args.generation).run()
