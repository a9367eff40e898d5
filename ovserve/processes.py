"""Starting the child processes: each is a fresh interpreter (``python -m workers|frontend``)
so no state, thread or start method leaks from the supervisor into it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field

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

    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = PROJECT_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.generation += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *self.argv, "--generation", str(self.generation)],
            pass_fds=self.pass_fds,
            env=env,
        )

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
