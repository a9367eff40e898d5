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
from collections.abc import Callable
from typing import Any

import zmq

from ovserve.cache_dir import model_cache_dir
from ovserve.extension_check import extension_error
from ovserve.listeners import announce, open_ports
from ovserve.processes import Child, fit_arenas, make_children, stop_all
from ovserve.registry import Order, Registry
from ovserve.reloads import Answer, Reloads
from ovserve.routing_table import routing_table
from ovserve.sdnotify import Notifier
from ovserve.settings import Settings
from ovserve.shared import control as C
from ovserve.shared import errors as E
from ovserve.shared import protocol as P
from ovserve.shared.shm import remove_owned, remove_stale, run_dir, unlink_segment

log = logging.getLogger("ovserve.supervisor")
TICK_S = 0.1
SHUTDOWN_GRACE_S = 10.0
TABLE_ACK_S = 2.0  # how long a reload answer waits for a front that has not applied its table


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.run_dir = run_dir(self.pid)
        self.registry = Registry(list(range(settings.worker_processes)), settings.replicas)
        self.workers: list[Child] = []
        self.fronts: list[Child] = []
        self.stop_requested = False
        self.reload_requested = False
        self.published_gen = -1
        self.pending_answers: list[tuple[int, float, list[Answer]]] = []  # (generation, deadline, answers)
        self.last_poll = time.monotonic()
        self.notify = Notifier()
        self.reloads = Reloads(settings, self.registry, self.notify, self._send_orders)
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

    def _send(self, ident: bytes, message: C.ControlMessage) -> None:
        self.router.send_multipart([ident, C.encode(message)])

    def _send_orders(self, orders: list[Order]) -> None:
        for worker, message in orders:
            ident = self.workers[worker].ident
            if ident is None:
                continue  # the worker is down; on_worker_ready replays its loads
            self._send(ident, message)

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
            child.ident = None
            if child.role == "worker":
                self.registry.on_worker_lost(child.index)
            else:
                self._forget_arena(child)
            if child.record_death(now) and child.role == "worker":
                self.registry.on_worker_failing(child.index)

    def _forget_arena(self, front: Child) -> None:
        arena, front.arena = front.arena, ""
        if arena:
            unlink_segment(arena)
            for worker in self.workers:
                if worker.ident is not None:
                    self._send(worker.ident, C.ForgetArena(arena))

    # ---- messages ---------------------------------------------------------------------------
    def _on_message(self, ident: bytes, msg: C.ControlMessage) -> None:
        if isinstance(msg, C.Hello) and msg.role == C.WORKER:
            self.workers[msg.index].ident = ident
            log.info("worker %d ready (pid %d)", msg.index, msg.pid)
            self._send_orders(self.registry.on_worker_ready(msg.index, msg.generation))
        elif isinstance(msg, C.Hello):
            front = self.fronts[msg.index]
            front.ident, front.arena = ident, msg.arena
            self._send(ident, C.TableUpdate(routing_table(self.registry)))
        elif isinstance(msg, C.Serving):
            self.fronts[msg.front].serving = True
        elif isinstance(msg, C.TableApplied):
            front = self.fronts[msg.front]
            front.table_generation = max(front.table_generation, msg.generation)
        elif isinstance(msg, C.Loaded):
            orders = self.registry.on_loaded(msg.worker, msg.instance, msg.ok, msg.signature, msg.error)
            self._send_orders(orders + self.registry.retire_superseded())
        elif isinstance(msg, C.Unloaded):
            self.registry.on_unloaded(msg.worker, msg.instance)
        elif isinstance(msg, C.Reload):
            ticket = self.reloads.start(self.serving)
            ticket.requesters.append((ident, msg.id))
            self.reloads.waiting.append(ticket)

    def _publish(self) -> None:
        if self.registry.settled and self.registry.pipelines.settle(self.registry.models, self.registry.generation):
            self.registry.changed()
        if self.registry.generation == self.published_gen:
            return
        self.published_gen = self.registry.generation
        update = C.encode(C.TableUpdate(routing_table(self.registry)))  # encoded once for every front
        for front in self.fronts:
            if front.ident is not None:
                self.router.send_multipart([front.ident, update])

    def _answer_reloads(self) -> None:
        """Answer settled reloads once every serving front has applied their table (a client's
        next request may reach any front: it must see what the reload did), or after
        ``TABLE_ACK_S`` whatever a slow front says."""
        answers = self.reloads.settled(self.serving)
        if answers is not None:
            self._publish()  # the table goes out before the answers
            self.pending_answers.append((self.published_gen, time.monotonic() + TABLE_ACK_S, answers))
        while self.pending_answers:
            generation, deadline, answers = self.pending_answers[0]
            behind = [f for f in self.fronts if f.serving and f.ident is not None and f.table_generation < generation]
            if behind and time.monotonic() < deadline:
                return
            self.pending_answers.pop(0)
            for ident, rid, http, error in answers:
                self._send(ident, C.ReloadResult(rid, http, error))

    # ---- life cycle -------------------------------------------------------------------------
    def run(self) -> int:
        removed = remove_stale()
        if removed:
            log.info("removed leftovers of dead supervisors: %s", ", ".join(removed))
        if not fit_arenas(self.settings):
            return 1
        self.settings.cache_dir = model_cache_dir(self.settings.cache_dir)
        if self.settings.cpu_extension:
            error = extension_error(self.settings.cpu_extension)
            if error is not None:
                log.error("%s", error)
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
                    self._on_message(ident, C.decode(data))
                except Exception:  # a malformed message from a child must not stop the supervisor
                    log.exception("bad control message")

    def _pump_until(self, done: Callable[[], bool], timeout_s: float, publish: bool = False) -> bool:
        """Serve messages and children until ``done()``; False on a stop request or the timeout."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if self.stop_requested or time.monotonic() > deadline:
                return False
            self._pump(TICK_S)
            self._check_children()
            if publish:
                self._publish()
        return True

    def _wait_workers(self) -> bool:
        if not self._pump_until(lambda: all(w.ident is not None for w in self.workers), 120):
            log.error("workers did not start")
            return False
        return True

    def _load_models(self) -> bool:
        """Order the initial loads and wait until every load has settled (fronts see each
        version become AVAILABLE as it does)."""
        ticket = self.reloads.start(self.serving)
        config_unusable = self.reloads.config.digest is None or (
            ticket.error is not None and ticket.error.http == E.JSON_INVALID.http
        )
        if self.settings.config_path is not None and config_unusable:
            log.error("cannot start: config file %s is missing or invalid", self.settings.config_path)
            return False
        if not self._pump_until(lambda: self.registry.settled, float("inf"), publish=True):
            return False
        if self.settings.config_path is None:  # single-model mode: a model that cannot serve stops the start
            for model in self.settings.models:
                problem = self.registry.watch.startup_problem(model.name, self.registry.models.get(model.name))
                if problem is not None:
                    log.error("cannot start: model %s cannot be served: %s", model.name, problem)
                    return False
        return True

    def _wait_fronts(self) -> None:
        self._pump_until(lambda: all(f.serving for f in self.fronts), 30)

    def _loop(self) -> None:
        poll_every = self.settings.file_system_poll_wait_seconds
        while not self.stop_requested:
            self._pump(TICK_S)
            self._check_children()
            if self.reload_requested:
                self.reload_requested = False
                log.info("SIGHUP: reloading")
                for front in self.fronts:  # they read their certificate files again
                    if front.serving:
                        front.signal(signal.SIGHUP)
                self.reloads.waiting.append(self.reloads.start(self.serving))
            if poll_every > 0 and time.monotonic() - self.last_poll >= poll_every:
                self.last_poll = time.monotonic()
                self.reloads.start(self.serving, announce=False)
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
        for front in self.fronts:
            if front.arena:
                unlink_segment(front.arena)
        remove_owned(self.pid)
        log.info("stopped; shared memory and sockets removed")
