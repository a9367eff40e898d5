"""systemd's notify protocol (sd_notify), spoken when ``NOTIFY_SOCKET`` is set."""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("ovserve.sdnotify")


class Notifier:
    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "")
        self.sock: socket.socket | None = None
        self.address = "\0" + address[1:] if address.startswith("@") else address
        if address:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        watchdog_for_us = usec.isdigit() and (not pid or pid == str(os.getpid()))
        self.watchdog_every = int(usec) / 2e6 if watchdog_for_us else 0.0
        self.last_watchdog = 0.0

    def send(self, *fields: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:  # systemd gone: nothing to tell
            log.debug("sd_notify failed: %s", exc)

    def ready(self) -> None:
        self.send("READY=1", f"STATUS=serving, pid {os.getpid()}")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        if self.watchdog_every and time.monotonic() - self.last_watchdog >= self.watchdog_every:
            self.last_watchdog = time.monotonic()
            self.send("WATCHDOG=1")
