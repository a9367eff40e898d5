"""One client connection of a REST front: HTTP/1.1 parsed by httptools (llhttp, in C), each
complete request handed to the REST port, answers written in request order as one buffer.

It replaced Sanic's request cycle (a task per connection looping over a Python head parser, a
request object, stage bookkeeping, events for every read and write), which cost about 20 us of
the 94 us of CPU a front spent per tiny predict (bench/load.py, wrk c=32); this keeps only what a
REST front needs. The rules it enforces, all answered as JSON errors (``shared.errors``):

* heads: at most ``MAX_HEAD`` bytes (431), parse errors (400);
* bodies: at most ``max_body_bytes`` (413), weighted into the front's intake budget before they
  are read (``intake.Intake``: 413 or 503 answered at once, the rest of the body read and
  dropped, then the connection closed);
* absolute deadlines for a head and for a body (408 and close), idle keep-alive connections
  closed after the keep-alive timeout, all checked by the front's sweep (``http_front``);
* pipelined requests answered in order; ``Expect: 100-continue`` answered before the body.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any

import httptools
from ovserve.frontend.http.answer import encode, refusal
from ovserve.frontend.http.guard import BINARY_COST, BINARY_HEADER, CHUNK_ALLOWANCE, JSON_COST, Limits
from ovserve.frontend.http.reply import Headers, Reply, error_body
from ovserve.frontend.http.request import Request
from ovserve.shared import errors as E
from ovserve.shared.errors import Status

log = logging.getLogger("ovserve.front")
MAX_HEAD = 64 * 1024  # request line and headers together
MAX_QUEUED = 32  # pipelined requests waiting for the one in progress; beyond, reading pauses
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
TOO_MANY = refusal(E.TOO_MANY_CONNECTIONS)

Handler = Callable[[str, str, Headers, bytes], Awaitable[Reply]]


class HttpConnection(asyncio.Protocol):
    def __init__(self, handler: Handler, limits: Limits, connections: set[HttpConnection]) -> None:
        self.handler = handler
        self.limits = limits
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Request] = deque()
        self.task: asyncio.Task[None] | None = None  # the request being answered
        self.closing = False  # no more requests: close once the queue is answered
        self.dropping = False  # refused: what is still sent is read and thrown away
        self.reading_paused = False
        self.writing_paused = False
        # the message being parsed
        self.in_message = False
        self.url = b""
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.head_bytes = 0
        self.received = 0  # body bytes so far
        self.expected = 0  # Content-Length, 0 for chunked
        self.reserved = 0
        # deadlines (monotonic seconds), checked by ``check``
        self.head_deadline: float | None = None
        self.body_deadline: float | None = None
        self.idle_since: float | None = None

    # ---- transport ------------------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        if len(self.connections) >= self.limits.max_connections:
            transport.write(TOO_MANY)
            transport.close()
            return
        self.transport = transport
        self.connections.add(self)
        self.head_deadline = monotonic() + self.limits.read_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None
        if self.task is not None:
            self.task.cancel()  # the client went away: the dispatcher abandons its request
        self.limits.intake.release(self.reserved)
        self.reserved = 0
        while self.queue:
            self.limits.intake.release(self.queue.popleft().reserved)

    def eof_received(self) -> bool:
        """The client's FIN is a client giving up (as with Sanic and most servers): the
        connection closes and a request in progress is abandoned, its work skipped if not begun."""
        return False

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.task is None:
            self._next()  # reading resumes there, unless requests are still queued past the bound

    def _pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.transport.is_closing():
            self.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.writing_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.dropping and not self.in_message:
            return  # refused and closing: nothing more is read
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.closing = self.dropping = True  # answered over HTTP/1.1; nothing after it is read
        except httptools.HttpParserError as exc:
            if not self.dropping:
                self._refuse(E.HTTP_BAD_REQUEST, drain=False, detail=str(exc))

    # ---- parser callbacks -----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.in_message = True
        self.idle_since = None
        if self.head_deadline is None:
            self.head_deadline = monotonic() + self.limits.read_timeout_s

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._head_grew(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        self._head_grew(len(name) + len(value) + 4)

    def _head_grew(self, nbytes: int) -> None:
        self.head_bytes += nbytes
        if self.head_bytes > MAX_HEAD and not self.dropping:
            self._refuse(E.HEAD_TOO_LARGE, drain=False)

    def on_headers_complete(self) -> None:
        self.head_deadline = None
        if self.dropping:
            return
        headers = self.headers
        length = headers.get("content-length")
        chunked = "transfer-encoding" in headers
        if length is None and not chunked:
            return  # no body
        expected = int(length) if length is not None and not chunked else 0  # llhttp checked it
        limits = self.limits
        self.body_deadline = limits.body_deadline(monotonic(), expected or CHUNK_ALLOWANCE)
        if expected > limits.max_body_bytes:
            self._refuse(E.REQUEST_TOO_LARGE)
            return
        self.expected = expected
        if expected and not self._reserve(expected):
            return
        if headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self.dropping:
            return
        self.received += len(body)
        self.chunks.append(body)
        if not self.expected:  # chunked: the budget and the deadline grow with what arrives
            limits = self.limits
            if self.received > limits.max_body_bytes:
                self._refuse(E.REQUEST_TOO_LARGE)
            elif self._reserve(len(body)):
                self.body_deadline = limits.body_deadline(monotonic(), self.received + CHUNK_ALLOWANCE)

    def on_message_complete(self) -> None:
        self.in_message = False
        self.body_deadline = None
        self.head_bytes = 0
        if self.dropping:
            if self.task is None and not self.queue:
                self._close()
            return
        url = self.url
        body = b"".join(self.chunks) if self.chunks else b""
        method = self.parser.get_method().decode("ascii")
        keep_alive = self.parser.should_keep_alive()
        headers, reserved = self.headers, self.reserved
        self.url, self.headers, self.chunks, self.received, self.expected, self.reserved = b"", {}, [], 0, 0, 0
        try:
            path = httptools.parse_url(url).path.decode("utf-8")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            self.limits.intake.release(reserved)
            self._refuse(E.HTTP_BAD_REQUEST, drain=False, detail="invalid URL")
            return
        self.queue.append(Request(method, path, headers, body, keep_alive, reserved))
        if not keep_alive:
            self.closing = True
        if self.task is None:
            self._next()
        elif len(self.queue) >= MAX_QUEUED:
            self._pause_reading()

    # ---- answering --------------------------------------------------------------------------------
    def _next(self) -> None:
        """Start answering the next queued request, or wait idle (or close)."""
        transport = self.transport
        if self.writing_paused or transport is None:
            return
        if not self.queue:
            if self.closing and not self.in_message:
                self._close()
            else:
                self.idle_since = monotonic()
                self._resume_reading()
            return
        request = self.queue.popleft()
        if request.refusal is not None:
            transport.write(refusal(request.refusal))
            if not self.in_message:
                self._close()  # else once the refused body has been read
            return
        self.task = self.loop.create_task(self._answer(request))
        if len(self.queue) < MAX_QUEUED // 2:
            self._resume_reading()

    async def _answer(self, request: Request) -> None:
        try:
            reply = await self.handler(request.method, request.path, request.headers, request.body)
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            reply = Reply(500, error_body(E.INTERNAL_ERROR.message))
        finally:
            self.limits.intake.release(request.reserved)
            self.task = None
        transport = self.transport
        if transport is None:
            return
        keep_alive = request.keep_alive and not (self.closing and not self.queue)
        transport.write(encode(reply, keep_alive, request.method == "HEAD"))
        if keep_alive or self.queue:
            self._next()
        else:
            self._close()

    def _reserve(self, nbytes: int) -> bool:
        """Weigh ``nbytes`` of body into the intake budget; refused (answered) if they do not fit."""
        cost = nbytes * (BINARY_COST if BINARY_HEADER in self.headers else JSON_COST)
        refused = self.limits.intake.reserve(cost)
        if refused is not None:
            self._refuse(refused)
            return False
        self.reserved += cost
        return True

    def _refuse(self, status: Status, drain: bool = True, detail: str = "") -> None:
        """Answer ``status`` once the requests before it are answered, and serve nothing more.
        ``drain``: the body the client is sending is read and dropped first, so that it sees
        the answer rather than a reset."""
        if detail:
            log.debug("refusing a request: %s (%s)", status.message, detail)
        self.limits.intake.release(self.reserved)
        self.reserved = 0
        self.chunks = []
        self.dropping = self.closing = True
        self.head_deadline = None
        if not drain:
            self.in_message = False
        self.queue.append(Request("", "", {}, b"", False, 0, refusal=status))
        if self.task is None:
            self._next()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ---- the front's sweep -----------------------------------------------------------------------------
    def check(self, now: float, keepalive_s: float) -> None:
        """Cut a head or body past its deadline (408), or an idle keep-alive connection."""
        deadline = self.head_deadline or self.body_deadline
        if deadline is not None and now > deadline:
            self.head_deadline = self.body_deadline = None
            if self.dropping:
                self._close()  # a refused body still trickling in
            else:
                self._refuse(E.READ_TIMEOUT, drain=False)
        elif self.idle_since is not None and keepalive_s and now - self.idle_since > keepalive_s:
            self._close()

    def close_if_idle(self) -> bool:
        if self.task is None and not self.queue and not self.in_message:
            self._close()
            return True
        return False

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
