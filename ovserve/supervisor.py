"""The supervisor: owns the desired state, starts and pins every process, restarts any that
die, decides reloads, and publishes the routing table to the fronts.

Signal handlers only set flags; all work happens in the main loop (gunicorn's arbiter style).
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from ovserve.processes import Child
from ovserve.registry import Order, Registry
from ovserve.sdnotify import Notifier
from ovserve.settings import Settings
from shared import errors as E
from shared import protocol as P
from shared.child_settings import FrontSettings, WorkerSettings
from shared.config_file import SchemaError, parse_config
from shared.shm import available_bytes, remove_owned, remove_stale, run_dir, unlink_segment

log = logging.getLogger("ovserve.supervisor")
TICK_S = 0.1
SHUTDOWN_GRACE_S = 10.0
BACKOFF_S = (0.5, 1, 2, 4, 8, 16, 30)
CRASH_WINDOW_S = 60.0
MAX_CRASHES = 5
MIN_ARENA_BYTES = 8 * 1024 * 1024
CONFIG_READ_ATTEMPTS = 3  # as OVMS: up to 3 reads, 10 ms apart


@dataclass
class ReloadTicket:
    """One reload in progress: answered once every load and unload it caused has settled."""

    requesters: list[tuple[bytes, int]] = field(default_factory=list)
    error: E.Status | None = None
    changed: bool = False
    config_changed: bool = False
    started: list[int] = field(default_factory=list)  # instances whose load this reload ordered
    announced: bool = False  # RELOADING=1 was sent: READY=1 follows when answered


def _bind_listeners(host_list: str, port: int) -> list[socket.socket]:
    socks = []
    for host in [h.strip() for h in host_list.split(",") if h.strip()]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, addr = infos[0]
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(addr)
        s.listen(1024)
        s.set_inheritable(True)
        socks.append(s)
    return socks


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.run_dir = run_dir(self.pid)
        self.registry = Registry(list(range(settings.worker_processes)), settings.replicas)
        self.workers: list[Child] = []
        self.fronts: list[Child] = []
        self.front_ids: dict[bytes, int] = {}
        self.front_arenas: dict[int, str] = {}
        self.worker_ids: dict[int, bytes] = {}
        self.stop_requested = False
        self.reload_requested = False
        self.published_gen = -1
        self.reloads: list[ReloadTicket] = []
        self.config_digest: bytes | None = None
        self.config_failed = False
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
    def _fit_arenas(self) -> bool:
        """Shrink the per-front arenas to what /dev/shm can hold (docker gives 64 MiB)."""
        s = self.settings
        free = available_bytes()
        if s.front_processes * s.arena_bytes <= free:
            return True
        fitted = int(free * 0.8) // s.front_processes
        if fitted < MIN_ARENA_BYTES:
            log.error(
                "only %d MiB free in shared memory for %d fronts; give the container more (--shm-size)",
                free >> 20,
                s.front_processes,
            )
            return False
        log.warning(
            "shared memory has %d MiB free: arena per front lowered from %d to %d MiB",
            free >> 20,
            s.arena_bytes >> 20,
            fitted >> 20,
        )
        s.arena_bytes = fitted
        return True

    def _make_children(self, listeners: list[socket.socket]) -> None:
        s = self.settings
        common = {"run_dir": self.run_dir, "supervisor_pid": self.pid, "log_level": s.log_level}
        for i, cpus in enumerate(s.worker_cpu_sets):
            worker = WorkerSettings(
                index=i,
                **common,
                cpus=tuple(cpus),
                cache_dir=s.cache_dir,
                max_batch=s.max_batch,
                batch_delay_us=s.batch_delay_us,
                stats_interval_s=s.stats_interval_s,
            )
            self.workers.append(Child("worker", i, ["workers", "--settings", worker.to_arg()]))
        fds = tuple(sock.fileno() for sock in listeners)
        for i in range(s.front_processes):
            front = FrontSettings(
                index=i,
                **common,
                listen_fds=fds,
                arena_bytes=s.arena_bytes,
                max_body_bytes=s.max_body_bytes,
                max_json_depth=s.max_json_depth,
                request_timeout_s=s.request_timeout_s,
                shutdown_grace_s=s.shutdown_grace_s,
                max_queue_per_worker=s.max_queue_per_worker,
                single_model=s.config_path is None,
            )
            self.fronts.append(Child("front", i, ["frontend", "--settings", front.to_arg()], pass_fds=fds))

    def _send(self, ident: bytes, message: dict[str, Any]) -> None:
        self.router.send_multipart([ident, P.pack(message)])

    def _send_orders(self, orders: list[Order]) -> None:
        for kind, worker, fields in orders:
            ident = self.worker_ids.get(worker)
            if ident is None:
                continue  # the worker is down; on_worker_ready replays its loads
            self._send(ident, {"t": P.LOAD if kind == "load" else P.UNLOAD, **fields})

    def _check_children(self) -> None:
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
            child.failures = [t for t in child.failures if now - t < CRASH_WINDOW_S] + [now]
            delay = BACKOFF_S[min(len(child.failures) - 1, len(BACKOFF_S) - 1)]
            if len(child.failures) > MAX_CRASHES:
                delay = BACKOFF_S[-1]
                if child.role == "worker":
                    self.registry.on_worker_failing(child.index)
                log.error(
                    "%s %d keeps dying (%d times in %.0f s); next try in %.0f s",
                    child.role,
                    child.index,
                    len(child.failures),
                    CRASH_WINDOW_S,
                    delay,
                )
            child.next_start = now + (0 if len(child.failures) == 1 else delay)

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
            http, error = self._outcome(ticket)
            for ident, rid in ticket.requesters:
                self._send(ident, {"t": P.RELOAD_RESULT, "id": rid, "http": http, "error": error})
        self.reloads.clear()

    def _outcome(self, ticket: ReloadTicket) -> tuple[int, str | None]:
        if ticket.error is not None:
            return ticket.error.http, ticket.error.message
        failed = self.registry.failed_loads(ticket.started)
        if failed:
            log.error("reload: versions failed to load: %s", failed)
            text = E.CONFIG_RELOAD_FAILED if ticket.config_changed else E.MODEL_VERSIONS_RELOAD_FAILED
            return 500, text.message
        if self.settings.config_path is None:
            return 200, None  # single-model mode always answers 200
        return (201 if ticket.changed else 200), None

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
        path = self.settings.config_path
        assert path is not None
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as exc:
            log.error("config file %s: %s", path, exc)
            ticket.error = E.CONFIG_FILE_TIMESTAMP_READING_FAILED
            return
        digest = hashlib.md5(raw).digest()
        if digest == self.config_digest and not self.config_failed:
            return
        self.config_digest = digest
        for attempt in range(CONFIG_READ_ATTEMPTS):  # a file caught mid-write parses on a later read
            try:
                parsed = parse_config(raw, os.path.dirname(path))
                break
            except SchemaError as exc:
                if attempt + 1 < CONFIG_READ_ATTEMPTS:
                    time.sleep(0.01)
                    try:
                        with open(path, "rb") as f:
                            raw = f.read()
                    except OSError:
                        pass
                    continue
                log.error("config file %s rejected: %s", path, exc)
                self.config_failed = True
                ticket.error = E.Status(E.JSON_INVALID.http, E.CONFIG_RELOAD_FAILED.message)
                return
        self.config_digest = hashlib.md5(raw).digest()  # of what was applied
        log.info("config file %s: applying %d models", path, len(parsed.models))
        self._send_orders(self.registry.set_models(parsed.models, parsed.skipped))
        ticket.changed = ticket.config_changed = True
        self.config_failed = bool(parsed.problems)
        if parsed.problems:
            ticket.error = E.Status(parsed.problems[0][0].http, E.CONFIG_RELOAD_FAILED.message)

    # ---- life cycle -------------------------------------------------------------------------
    def run(self) -> int:
        removed = remove_stale()
        if removed:
            log.info("removed leftovers of dead supervisors: %s", ", ".join(removed))
        if not self._fit_arenas():
            return 1
        try:
            listeners = _bind_listeners(self.settings.rest_bind_address, self.settings.rest_port)
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", self.settings.rest_bind_address, self.settings.rest_port, exc)
            return 1
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(P.supervisor_endpoint(self.run_dir))
        self._install_signals()
        try:
            if self.settings.config_path is None:
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
            self.registry.mark_ready()
            self._publish()
            self._wait_fronts()
            self.serving = True
            self.notify.ready()
            host = self.settings.rest_bind_address.split(",")[0]
            log.info(
                "ovserve serving REST at http://%s:%d (%d fronts, %d workers on CPUs %s)",
                host if host not in ("0.0.0.0", "::") else "127.0.0.1",
                self.settings.rest_port,
                len(self.fronts),
                len(self.workers),
                self.settings.worker_cpu_sets,
            )
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
        config_unusable = self.config_digest is None or (
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
        return True

    def _wait_fronts(self) -> None:
        deadline = time.monotonic() + 30
        while len(self.front_ids) < len(self.fronts) and time.monotonic() < deadline and not self.stop_requested:
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
        for child in self.fronts:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_s + SHUTDOWN_GRACE_S
        for child in self.fronts:
            if not child.wait(max(0.1, deadline - time.monotonic())):
                child.signal(signal.SIGKILL)
                child.wait(5)
        for child in self.workers:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for child in self.workers:
            if not child.wait(max(0.1, deadline - time.monotonic())):
                child.signal(signal.SIGKILL)
                child.wait(5)
        if hasattr(self, "router"):
            self.router.close()
            self.ctx.term()
        for name in self.front_arenas.values():
            unlink_segment(name)
        remove_owned(self.pid)
        log.info("stopped; shared memory and sockets removed")
