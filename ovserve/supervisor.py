"""The supervisor: owns the desired state, starts and pins every process, restarts any that
die, decides reloads, and publishes the routing table to the fronts.

Signal handlers only set flags; all work happens in the main loop (gunicorn's arbiter style).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from typing import Any

import zmq

from ovserve.config_source import ConfigSource
from ovserve.listeners import announce, open_ports
from ovserve.pipelines import model_signatures
from ovserve.processes import Child, fit_arenas, make_children, stop_all
from ovserve.registry import Order, Registry
from ovserve.reload_ticket import ReloadTicket
from ovserve.sdnotify import Notifier
from ovserve.settings import Settings
from ovserve.shared import errors as E
from ovserve.shared import protocol as P
from ovserve.shared.shm import remove_owned, remove_stale, run_dir, unlink_segment
from ovserve.shared.wording import count

log = logging.getLogger("ovserve.supervisor")
TICK_S = 0.1
SHUTDOWN_GRACE_S = 10.0


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.run_dir = run_dir(self.pid)
        self.registry = Registry(list(range(settings.worker_processes)), settings.replicas)
        self.workers: list[Child] = []
        self.fronts: list[Child] = []
        self.front_ids: dict[bytes, int] = {}
        self.fronts_serving: set[int] = set()  # fronts that said they accept requests
        self.front_arenas: dict[int, str] = {}
        self.worker_ids: dict[int, bytes] = {}
        self.stop_requested = False
        self.reload_requested = False
        self.published_gen = -1
        self.validated_gen = -1  # the registry generation the pipelines were last validated at
        self.reloads: list[ReloadTicket] = []
        self.config = ConfigSource(settings.config_path or "")
        self.last_poll = time.monotonic()
        self.notify = Notifier()
        self.serving = False

    # ---- signals ----------------------------------------------------------------------------
    def _install_signals(self) -> None:
        def stop(*_: Any) -> None:
            self.stop_requested = True

        def reload(*_: Any) -> None:
            self.reload_requested = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    # ---- children ---------------------------------------------------------------------------
    def _make_children(self, listeners: list[socket.socket]) -> None:
        self.workers, self.fronts = make_children(self.settings, self.run_dir, self.pid, listeners)

    def _send(self, ident: bytes, message: dict[str, Any]) -> None:
        self.router.send_multipart([ident, P.pack(message)])

    def _send_orders(self, orders: list[Order]) -> None:
        for kind, worker, fields in orders:
            ident = self.worker_ids.get(worker)
            if ident is None:
                continue  # the worker is down; on_worker_ready replays its loads
            self._send(ident, {"t": P.LOAD if kind == "load" else P.UNLOAD, **fields})

    def _check_children(self) -> None:
        if self.stop_requested:
            return  # stopping: children exit on their own signal (a process group's SIGTERM) or ours
        now = time.monotonic()
        for child in self.workers + self.fronts:
            if child.proc is None:
                if child.generation > 0 and now >= child.next_start:
                    log.info("starting %s %d", child.role, child.index)
                    child.start()
                continue
            code = child.proc.poll()
            if code is None:
                continue
            log.error("%s %d (pid %d) exited with status %s", child.role, child.index, child.proc.pid, code)
            child.proc = None
            if child.role == "worker":
                self.worker_ids.pop(child.index, None)
                self.registry.on_worker_lost(child.index)
            else:
                self._forget_front(child.index)
            if child.record_death(now) and child.role == "worker":
                self.registry.on_worker_failing(child.index)

    def _forget_front(self, index: int) -> None:
        for ident, i in list(self.front_ids.items()):
            if i == index:
                del self.front_ids[ident]
        arena = self.front_arenas.pop(index, None)
        if arena:
            unlink_segment(arena)
            for ident in self.worker_ids.values():
                self._send(ident, {"t": P.FORGET_ARENA, "arena": arena})

    # ---- messages ---------------------------------------------------------------------------
    def _on_message(self, ident: bytes, msg: dict[str, Any]) -> None:
        kind = msg["t"]
        if kind == P.HELLO and msg["role"] == "worker":
            self.worker_ids[msg["worker"]] = ident
            log.info("worker %d ready (pid %d)", msg["worker"], msg["pid"])
            self._send_orders(self.registry.on_worker_ready(msg["worker"], msg["generation"]))
        elif kind == P.HELLO and msg["role"] == "front":
            self.front_ids[ident] = msg["front"]
            self.front_arenas[msg["front"]] = msg["arena"]
            self._send(ident, {"t": P.TABLE, "table": self.registry.table()})
        elif kind == P.SERVING:
            self.fronts_serving.add(msg["front"])
        elif kind == P.LOADED:
            orders = self.registry.on_loaded(
                msg["worker"], msg["inc"], msg["ok"], msg.get("signature"), msg.get("error", "")
            )
            self._send_orders(orders + self.registry.retire_superseded())
        elif kind == P.UNLOADED:
            self.registry.on_unloaded(msg["worker"], msg["inc"])
        elif kind == P.RELOAD:
            ticket = self._reload()
            ticket.requesters.append((ident, msg["id"]))
            self.reloads.append(ticket)

    def _publish(self) -> None:
        if self.registry.settled and self.registry.generation != self.validated_gen:
            # pipelines are validated once the loads they depend on have settled, as OVMS does
            if self.registry.pipelines.validate(*model_signatures(self.registry.models)):
                self.registry.generation += 1
            self.validated_gen = self.registry.generation
        if self.registry.generation == self.published_gen:
            return
        self.published_gen = self.registry.generation
        table = self.registry.table()
        for ident in self.front_ids:
            self._send(ident, {"t": P.TABLE, "table": table})

    def _answer_reloads(self) -> None:
        if not self.reloads or not self.registry.settled:
            return
        if self.serving and any(t.announced for t in self.reloads):
            self.notify.ready()
        self._publish()  # the table goes out before the answers, on the same ordered channel
        for ticket in self.reloads:
            http, error = ticket.outcome(self.registry, single_model=self.settings.config_path is None)
            for ident, rid in ticket.requesters:
                self._send(ident, {"t": P.RELOAD_RESULT, "id": rid, "http": http, "error": error})
        self.reloads.clear()

    # ---- reload -----------------------------------------------------------------------------
    def _reload(self, announce: bool = True) -> ReloadTicket:
        """OVMS's reload: the config file (config mode, when its content changed or the last
        load failed), then every model's version directories. Orders go out at once; the
        ticket is answered when they have settled."""
        ticket = ReloadTicket()
        if self.serving and announce:
            self.notify.reloading()
            ticket.announced = True
        first_load = len(self.registry.load_log)
        if self.settings.config_path is not None:
            self._reload_config(ticket)
            if ticket.error is not None and not ticket.config_changed:
                return ticket  # unreadable or invalid file: nothing was applied
        orders, changed, failed = self.registry.rescan()
        self._send_orders(orders)
        ticket.changed = ticket.changed or changed
        if failed and ticket.error is None:
            ticket.error = E.Status(E.PATH_INVALID.http, E.MODEL_VERSIONS_RELOAD_FAILED.message)
        ticket.started = self.registry.load_log[first_load:]
        return ticket

    def _reload_config(self, ticket: ReloadTicket) -> None:
        read = self.config.read()
        if read.error is not None:
            ticket.error = read.error
        if read.parsed is None:
            return  # unchanged, unreadable or invalid: nothing to apply
        parsed = read.parsed
        log.info("config file %s: applying %s", self.config.path, count(len(parsed.models), "model"))
        self._send_orders(self.registry.set_models(parsed.models, parsed.skipped))
        if self.registry.pipelines.set_pipelines(parsed.pipelines):
            self.registry.generation += 1  # validated (and published) once the loads settle
        ticket.changed = ticket.config_changed = True

    # ---- life cycle -------------------------------------------------------------------------
    def run(self) -> int:
        removed = remove_stale()
        if removed:
            log.info("removed leftovers of dead supervisors: %s", ", ".join(removed))
        if not fit_arenas(self.settings):
            return 1
        listeners = open_ports(self.settings)
        if listeners is None:
            return 1
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(P.supervisor_endpoint(self.run_dir))
        self._install_signals()
        try:
            if self.settings.config_path is None:
                self.registry.watch.quiet = True  # until serving: _load_models reports what stops the start
                self.registry.set_models(self.settings.models)
            self._make_children(listeners)
            self.listeners = listeners  # kept (never accepted on) so that a respawned front inherits them
            for w in self.workers:
                w.start()
            if not self._wait_workers():
                return 1
            for f in self.fronts:  # before the loads, as OVMS: live answers 200 and ready 503 meanwhile
                f.start()
            if not self._load_models():
                return 1
            self._wait_fronts()  # every front accepting (a gRPC front binds its port itself)
            self.registry.mark_ready()
            self._publish()
            self.serving = True
            self.registry.watch.quiet = False
            self.notify.ready()
            announce(self.settings)
            self._loop()
            return 0
        finally:
            self._shutdown()

    def _pump(self, timeout_s: float) -> None:
        if self.router.poll(int(timeout_s * 1000)):
            while True:
                try:
                    ident, data = self.router.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    self._on_message(ident, P.unpack(data))
                except Exception:  # a malformed message from a child must not stop the supervisor
                    log.exception("bad control message")

    def _wait_workers(self) -> bool:
        deadline = time.monotonic() + 120
        while len(self.worker_ids) < len(self.workers):
            if self.stop_requested or time.monotonic() > deadline:
                log.error("workers did not start")
                return False
            self._pump(TICK_S)
            self._check_children()
        return True

    def _load_models(self) -> bool:
        """Order the initial loads and wait until every load has settled (fronts see each
        version become AVAILABLE as it does)."""
        ticket = self._reload()
        config_unusable = self.config.digest is None or (
            ticket.error is not None and ticket.error.http == E.JSON_INVALID.http
        )
        if self.settings.config_path is not None and config_unusable:
            log.error("cannot start: config file %s is missing or invalid", self.settings.config_path)
            return False
        while not self.registry.settled:
            if self.stop_requested:
                return False
            self._pump(TICK_S)
            self._check_children()
            self._publish()
        if self.settings.config_path is None:  # single-model mode: a model that cannot serve stops the start
            for model in self.settings.models:
                problem = self.registry.watch.startup_problem(model.name, self.registry.models.get(model.name))
                if problem is not None:
                    log.error("cannot start: model %s cannot be served: %s", model.name, problem)
                    return False
        return True

    def _wait_fronts(self) -> None:
        deadline = time.monotonic() + 30
        while len(self.fronts_serving) < len(self.fronts) and time.monotonic() < deadline and not self.stop_requested:
            self._pump(TICK_S)
            self._check_children()

    def _loop(self) -> None:
        poll_every = self.settings.file_system_poll_wait_seconds
        while not self.stop_requested:
            self._pump(TICK_S)
            self._check_children()
            if self.reload_requested:
                self.reload_requested = False
                log.info("SIGHUP: reloading")
                self.reloads.append(self._reload())
            if poll_every > 0 and time.monotonic() - self.last_poll >= poll_every:
                self.last_poll = time.monotonic()
                self._reload(announce=False)
            self._publish()
            self._answer_reloads()
            self.notify.watchdog()

    def _shutdown(self) -> None:
        log.info("shutting down")
        self.notify.stopping()
        for sock in getattr(self, "listeners", []):
            sock.close()
        stop_all(self.fronts, self.settings.shutdown_grace_s + SHUTDOWN_GRACE_S)  # they drain first
        stop_all(self.workers, SHUTDOWN_GRACE_S)
        if hasattr(self, "router"):
            self.router.close()
            self.ctx.term()
        for name in self.front_arenas.values():
            unlink_segment(name)
        remove_owned(self.pid)
        log.info("stopped; shared memory and sockets removed")
