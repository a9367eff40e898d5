"""The worker's data-plane connections: one Unix stream connection per front, accepted on the
worker's socket, read whole frames at a time, answered with blocking-bounded writes.

A connection serves only after its first message, an ``Attach`` naming this process's
generation; a front that expects another generation (it has an old routing table) is refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import zmq
from ovserve.shared import protocol as P
from ovserve.shared.messages import Attach

log = logging.getLogger("ovserve.worker")
SEND_TIMEOUT_S = 5.0  # a front that reads nothing for this long is dropped, not waited for


@dataclass(slots=True)
class _Front:
    """One front's connection: its frame reader, and whether its Attach named this generation."""

    reader: P.FrameReader = field(default_factory=P.FrameReader)
    attached: bool = False


class FrontConnections:
    def __init__(self, path: str, index: int, generation: int, poller: zmq.Poller) -> None:
        self.index = index
        self.generation = generation
        self.poller = poller
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # left by the process this one replaces
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.listener.setblocking(False)
        poller.register(self.listener, zmq.POLLIN)
        self.fronts: dict[socket.socket, _Front] = {}

    def accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.fronts[conn] = _Front()
            self.poller.register(conn, zmq.POLLIN)

    def close(self, front: socket.socket) -> None:
        if self.fronts.pop(front, None) is not None:
            self.poller.unregister(front)
            front.close()

    def ready(self, events: dict[Any, int]) -> list[socket.socket]:
        """Connections the poll reported readable (raw sockets are reported by descriptor)."""
        return [front for front in self.fronts if front.fileno() in events]

    def readable(self, timeout_s: float) -> list[socket.socket]:
        """Connections with more messages within ``timeout_s`` (a batch that could not fill)."""
        fronts = list(self.fronts)
        return select.select(fronts, [], [], timeout_s)[0] if fronts else []

    def messages(self, front: socket.socket) -> list[Any]:
        """Every request waiting on one attached connection, the Attach consumed; a closed or
        refused connection is dropped here (what it sent before stays queued)."""
        state = self.fronts.get(front)
        if state is None:  # closed meanwhile
            return []
        messages, still_open = P.receive(front, state.reader)
        if not still_open:
            self.close(front)
        if not state.attached and messages:
            if not self._attach(front, state, messages[0]):
                return []
            messages = messages[1:]
        return messages

    def _attach(self, front: socket.socket, state: _Front, message: Any) -> bool:
        attach = Attach.decode(message)
        if attach is not None and attach.generation == self.generation:
            state.attached = True
            return True
        log.info("worker %d (generation %d): refusing a front that expects %r", self.index, self.generation, message)
        self.close(front)
        return False

    def send(self, replies: dict[socket.socket, list[list[Any]]]) -> None:
        """One frame per front of its encoded results."""
        for front, results in replies.items():
            if results and front in self.fronts and not self._send_all(front, P.frame(results)):
                log.warning("worker %d: a front stopped reading its replies; dropping its connection", self.index)
                self.close(front)

    @staticmethod
    def _send_all(front: socket.socket, data: bytes) -> bool:
        deadline = time.monotonic() + SEND_TIMEOUT_S
        with memoryview(data) as view:
            sent = 0
            while sent < len(data):
                try:
                    sent += front.send(view[sent:])
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([], [front], [], left)[1]:
                        return False
                except OSError:  # the front died meanwhile
                    return False
        return True

    def close_all(self) -> None:
        for front in list(self.fronts):
            self.close(front)
        self.listener.close()
