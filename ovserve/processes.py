"""Starting the child processes: each is a fresh interpreter (``python -m workers|frontend``)
so no state, thread or start method leaks from the supervisor into it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ovserve.settings import Settings
from ovserve.shared.child_settings import FrontSettings, WorkerSettings
from ovserve.shared.shm import available_bytes

log = logging.getLogger("ovserve.supervisor")
MIN_ARENA_BYTES = 8 * 1024 * 1024
BACKOFF_S = (0.5, 1, 2, 4, 8, 16, 30)
CRASH_WINDOW_S = 60.0
MAX_CRASHES = 5
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Child:
    role: str  # "worker" | "front"
    index: int
    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    generation: int = 0
    failures: list[float] = field(default_factory=list)  # exit times of unexpected deaths
    next_start: float = 0.0
    ident: bytes | None = None  # its control-channel identity once it said Hello; None: not connected
    arena: str = ""  # a front's shared-memory arena (unlinked when the front is gone)
    serving: bool = False  # a front that said it accepts requests
    table_generation: int = -1  # the newest routing table a front said it applied

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = PROJECT_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.generation += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *self.argv, "--generation", str(self.generation)],
            pass_fds=self.pass_fds,
            env=env,
        )

    def record_death(self, now: float) -> bool:
        """An unexpected exit: plan the restart (at once the first time in a minute, then with
        backoff). True when it keeps dying (more than MAX_CRASHES in CRASH_WINDOW_S)."""
        self.failures = [t for t in self.failures if now - t < CRASH_WINDOW_S] + [now]
        delay = BACKOFF_S[min(len(self.failures) - 1, len(BACKOFF_S) - 1)]
        failing = len(self.failures) > MAX_CRASHES
        if failing:
            delay = BACKOFF_S[-1]
            log.error(
                "%s %d keeps dying (%d times in %.0f s); next try in %.0f s",
                self.role,
                self.index,
                len(self.failures),
                CRASH_WINDOW_S,
                delay,
            )
        self.next_start = now + (0 if len(self.failures) == 1 else delay)
        return failing

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def wait(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False


def fit_arenas(s: Settings) -> bool:
    """Shrink the per-front arenas to what /dev/shm can hold (docker gives 64 MiB)."""
    free = available_bytes()
    fronts = s.front_processes + s.grpc_workers
    if fronts * s.arena_bytes <= free:
        return True
    fitted = int(free * 0.8) // fronts
    if fitted < MIN_ARENA_BYTES:
        log.error(
            "only %d MiB free in shared memory for %d fronts; give the container more (--shm-size)",
            free >> 20,
            fronts,
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


def make_children(
    s: Settings, run_dir: str, supervisor_pid: int, listeners: list[socket.socket]
) -> tuple[list[Child], list[Child]]:
    """(workers, fronts), not started: each with the typed settings of its role."""
    workers, fronts = [], []
    common = {"run_dir": run_dir, "supervisor_pid": supervisor_pid}
    for i, cpus in enumerate(s.worker_cpu_sets):
        worker = WorkerSettings.build(s, index=i, cpus=tuple(cpus), **common)
        workers.append(Child("worker", i, ["ovserve.workers", "--settings", worker.to_arg()]))
    fds = tuple(sock.fileno() for sock in listeners)
    for i in range(s.front_processes):
        front = FrontSettings.build(
            s, index=i, listen_fds=fds, single_model=s.config_path is None, tls=s.rest_tls, **common
        )
        fronts.append(Child("front", i, ["ovserve.frontend", "--settings", front.to_arg()], pass_fds=fds))
    for i in range(s.front_processes, s.front_processes + s.grpc_workers):  # after the HTTP fronts
        front = FrontSettings.build(s, index=i, single_model=s.config_path is None, tls=s.grpc_tls, **common)
        fronts.append(Child("front", i, ["ovserve.frontend.grpc_front", "--settings", front.to_arg()]))
    return workers, fronts


def stop_all(children: list[Child], grace_s: float) -> None:
    """SIGTERM every child, wait up to ``grace_s`` for all of them, SIGKILL the rest."""
    for child in children:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        if not child.wait(max(0.1, deadline - time.monotonic())):
            child.signal(signal.SIGKILL)
            child.wait(5)
