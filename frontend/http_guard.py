"""What keeps an HTTP front answering under hostile load: a bounded number of connections, a
deadline for each request's head and body (a client sending a byte a second is cut off), and a
memory budget for request bodies being received and decoded (``Intake``).

Sanic's own timeouts measure inactivity (any byte resets them), so a slow client never trips
them; these deadlines are absolute. Sanic buffers each body whole, so a budget is the only way
to bound what many concurrent large bodies cost."""

from __future__ import annotations

import resource
from dataclasses import dataclass
from time import monotonic
from typing import Any

import orjson
from ovserve.shared import errors as E
from ovserve.shared.errors import Status
from sanic import Request
from sanic.exceptions import RequestTimeout, SanicException
from sanic.http import Http
from sanic.server.protocols.http_protocol import HttpProtocol

# Peak memory a body costs while it is held and decoded, as a multiple of its bytes (measured:
# numeric JSON 8-15x, JSON of named instances or deep arrays 21-23x; KServe's binary extension
# keeps the body and one copy of each tensor).
JSON_COST = 24
BINARY_COST = 3
BINARY_HEADER = "inference-header-content-length"
FD_RESERVE = 256  # descriptors kept for ZeroMQ, the arena, logs
MAX_AUTO_CONNECTIONS = 10000
CHUNK_ALLOWANCE = 64 * 1024  # a chunked body must keep sending: its deadline grows by this much


class IntakeRefused(SanicException):
    """A body the budget cannot take: answered at once, before the body is read."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.message, status_code=status.http)
        self.status = status


class Intake:
    """Bytes of request bodies a front holds at once, weighted by their decoding cost."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0

    def reserve(self, cost: int) -> None:
        if cost > self.budget:
            raise IntakeRefused(E.INTAKE_TOO_LARGE)
        if self.held + cost > self.budget:
            raise IntakeRefused(E.INTAKE_FULL)
        self.held += cost

    def release(self, cost: int) -> None:
        self.held -= cost


@dataclass
class Limits:
    """A front's limits, shared by all its connections (``app.ctx.limits``)."""

    intake: Intake
    read_timeout_s: float = 30.0
    min_upload_rate: float = 65536.0
    max_connections: int = MAX_AUTO_CONNECTIONS

    def body_deadline(self, start: float, expected: int) -> float:
        """When a body of ``expected`` bytes must have arrived: the read timeout, plus its
        upload at the slowest accepted rate (Apache's mod_reqtimeout ``MinRate``, in spirit)."""
        return start + self.read_timeout_s + expected / self.min_upload_rate


def raise_fd_limit() -> int:
    """Lift this process's soft limit on open files to the hard one; the connections it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return MAX_AUTO_CONNECTIONS
    return max(16, min(MAX_AUTO_CONNECTIONS, soft - FD_RESERVE))


class IntakeRequest(Request):
    """Reserves a body's cost before reading it; the handler gives it back (``release``)."""

    __slots__ = ("reserved",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reserved = 0

    async def receive_body(self) -> None:
        if self.body:
            return
        stream = self.stream
        protocol = stream.protocol
        limits: Limits = protocol.limits
        cost = BINARY_COST if BINARY_HEADER in self.headers else JSON_COST
        length = stream.request_bytes or 0  # 0: chunked
        start = monotonic()
        # Set first: a refused body is still read (and dropped) so that the client sees the
        # answer, and that read must end too.
        protocol.body_deadline = limits.body_deadline(start, length or CHUNK_ALLOWANCE)
        chunks: list[bytes] = []
        try:
            if length:
                self._reserve(limits.intake, length * cost)
            received = 0
            async for data in stream:
                chunks.append(data)
                if not length:
                    received += len(data)
                    self._reserve(limits.intake, len(data) * cost)
                    protocol.body_deadline = limits.body_deadline(start, received + CHUNK_ALLOWANCE)
        except BaseException:
            self.release()
            raise
        protocol.body_deadline = None
        self.body = b"".join(chunks)

    def _reserve(self, intake: Intake, cost: int) -> None:
        try:
            intake.reserve(cost)
        except IntakeRefused:
            self.stream.keep_alive = False  # the rest of the body is dropped, then the connection
            raise
        self.reserved += cost

    def release(self) -> None:
        if self.reserved:
            self.stream.protocol.limits.intake.release(self.reserved)
            self.reserved = 0


class GuardedHttp(Http):
    __slots__ = ()

    async def http1_request_header(self) -> None:
        protocol = self.protocol
        protocol.body_deadline = None
        if protocol.head_deadline is None:  # set at connect for a connection's first request
            protocol.head_deadline = monotonic() + protocol.limits.read_timeout_s
        await super().http1_request_header()
        protocol.head_deadline = None


def _refusal() -> bytes:
    body = orjson.dumps({"error": E.TOO_MANY_CONNECTIONS.message})
    head = (
        f"HTTP/1.1 {E.TOO_MANY_CONNECTIONS.http} Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


REFUSAL = _refusal()


class GuardedProtocol(HttpProtocol):
    """Sanic's HTTP/1.1 protocol with a connection cap and absolute read deadlines."""

    HTTP_CLASS = GuardedHttp
    __slots__ = ("body_deadline", "head_deadline", "limits")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits: Limits = self.app.ctx.limits
        self.request_handler = self.app.ctx.request_handler  # frontend.http_answer
        self.head_deadline: float | None = None
        self.body_deadline: float | None = None

    def connection_made(self, transport: Any) -> None:
        if len(self.connections) >= self.limits.max_connections:
            transport.write(REFUSAL)
            transport.close()
            return
        self.head_deadline = monotonic() + self.limits.read_timeout_s
        super().connection_made(transport)

    def check_timeouts(self) -> None:
        deadline = self.head_deadline or self.body_deadline
        if deadline is not None and self._task and monotonic() > deadline:
            self.head_deadline = self.body_deadline = None
            http = self._http
            http.exception = RequestTimeout("Request Timeout")
            http.request_body = None  # answer 408 and close; do not wait for the rest of a slow body
            http.keep_alive = False
            self._task.cancel("read deadline")
            return
        super().check_timeouts()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn_info is None:  # refused in connection_made: nothing was set up
            return
        super().connection_lost(exc)
