"""A front's data-plane connections to the workers: one Unix stream connection per worker
process (one generation of it), opened with an ``Attach`` naming that generation and opened
again while the routing table still names it; descriptors coalesced per loop turn and per worker
into one frame; results read in a reader callback. No future or task per socket operation.

What the requests mean (blocks, deadlines, replies by id) is the dispatcher's; it hears of
results, of a worker gone, and of descriptors a worker that stopped reading could not take.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ovserve.shared import protocol as P
from ovserve.shared.messages import Attach, InferResult

log = logging.getLogger("ovserve.front")
MAX_UNSENT = 8 << 20  # descriptors a worker has not taken yet: beyond this, fail fast
RECONNECT_S = 0.1


@dataclass(slots=True)
class _Link:
    """The connection to one worker process (one generation of it)."""

    sock: socket.socket
    generation: int
    reader: P.FrameReader = field(default_factory=P.FrameReader)
    unsent: bytearray = field(default_factory=bytearray)


class WorkerLinks:
    def __init__(
        self,
        run_dir: str,
        on_connected: Callable[[int], None],
        on_result: Callable[[int, InferResult], None],
        on_gone: Callable[[int], None],
        on_refused: Callable[[int, list[list[Any]]], None],
    ) -> None:
        self.run_dir = run_dir
        self.on_connected = on_connected
        self.on_result = on_result
        self.on_gone = on_gone  # the worker's requests in flight will never be answered
        self.on_refused = on_refused  # these descriptors were not sent
        self.loop = asyncio.get_running_loop()
        self.links: dict[int, _Link] = {}
        self.wanted: dict[int, int] = {}  # worker -> generation, from the routing table
        self.outbox: dict[int, list[list[Any]]] = {}
        self.flush_scheduled = False

    def set_workers(self, workers: dict[int, int]) -> None:
        """Follow the table: connect new workers; drop a lost or restarted one's connection
        (queued descriptors must not reach a new process)."""
        self.wanted = dict(workers)
        for index, link in list(self.links.items()):
            if workers.get(index) != link.generation:
                self._drop(index)
        for index, gen in workers.items():
            if index not in self.links:
                self._connect(index, gen)

    def send(self, worker: int, message: list[Any]) -> None:
        """Queue an encoded descriptor; it leaves with the others of this loop turn."""
        self.outbox.setdefault(worker, []).append(message)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def close(self) -> None:
        self.wanted = {}
        for index in list(self.links):
            self._drop(index)

    def _connect(self, index: int, generation: int) -> None:
        if self.wanted.get(index) != generation or index in self.links:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(P.worker_path(self.run_dir, index))
            sock.send(P.frame([Attach(generation).encode()]))  # a few bytes into an empty buffer
        except OSError as exc:  # not listening (yet, or any more): the table will tell
            sock.close()
            log.debug("worker %d: connect failed (%s); retrying", index, exc)
            self.loop.call_later(RECONNECT_S, self._connect, index, generation)
            return
        self.links[index] = _Link(sock, generation)
        self.on_connected(index)
        self.loop.add_reader(sock.fileno(), self._drain, index)

    def _drop(self, index: int) -> None:
        link = self.links.pop(index, None)
        self.outbox.pop(index, None)
        if link is not None:
            self.loop.remove_reader(link.sock.fileno())
            self.loop.remove_writer(link.sock.fileno())
            link.sock.close()
        self.on_gone(index)

    def _lost(self, index: int) -> None:
        """The worker closed the connection (it died, or dropped us): connect again while the
        table still names this generation."""
        link = self.links.get(index)
        self._drop(index)
        if link is not None:
            self.loop.call_later(RECONNECT_S, self._connect, index, link.generation)

    def _drain(self, index: int) -> None:
        link = self.links.get(index)
        if link is None:
            return
        replies, still_open = P.receive(link.sock, link.reader)
        for message in replies:
            try:
                result = InferResult.decode(message)
            except (TypeError, ValueError):
                log.error("worker %d sent a malformed result; ignored", index)
                continue
            self.on_result(index, result)
        if not still_open:
            self._lost(index)

    def _flush(self) -> None:
        self.flush_scheduled = False
        outbox, self.outbox = self.outbox, {}
        for index, messages in outbox.items():
            link = self.links.get(index)
            if link is None:
                continue
            if len(link.unsent) > MAX_UNSENT:  # the worker is not reading: fail these requests fast
                self.on_refused(index, messages)
                continue
            data = P.frame(messages)
            if link.unsent:
                link.unsent += data
                continue
            try:
                sent = link.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._lost(index)
                continue
            if sent < len(data):
                link.unsent += memoryview(data)[sent:]
                self.loop.add_writer(link.sock.fileno(), self._write, index)

    def _write(self, index: int) -> None:
        link = self.links.get(index)
        if link is None:
            return
        try:
            sent = link.sock.send(link.unsent)
        except BlockingIOError:
            return
        except OSError:
            self._lost(index)
            return
        del link.unsent[:sent]
        if not link.unsent:
            self.loop.remove_writer(link.sock.fileno())
