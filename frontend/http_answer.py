"""The REST front's request cycle past Sanic's parsing: the body read under the intake budget,
the request handed to the REST port, and the answer written as one buffer straight onto the
connection. Sanic's own cycle (routing, signals, a response object, its header sanitising and
formatting) cost a tenth of a front's CPU for what is always the same handler.

Sanic still parses the request head, keeps the connection state and answers its own errors
(a bad head, 408, 413, the intake's refusals) through the app's error handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from ovserve.frontend.http_guard import IntakeRequest
from ovserve.frontend.http_reply import JSON, TEXT, Reply, error_body
from ovserve.frontend.rest import RestApi
from ovserve.shared import errors as E
from sanic.http.constants import Stage

log = logging.getLogger("ovserve.front")
# OVMS's default CORS headers, on every answer
CORS = ((b"access-control-allow-origin", b"*"), (b"access-control-allow-methods", b"*"),
        (b"access-control-allow-headers", b"*"))  # fmt: skip
_CONTENT = {
    kind: b"".join(n + b": " + v + b"\r\n" for n, v in ((b"content-type", kind), *CORS)) for kind in (JSON, TEXT)
}
_STATUS = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
NO_BODY = (204, 304)


def encode(reply: Reply, keep_alive: bool, head_only: bool) -> bytes:
    """The whole answer: status line, headers, body."""
    status = reply.status
    parts = [_STATUS.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status, _CONTENT[reply.content_type]]
    parts += [name + b": " + value + b"\r\n" for name, value in reply.headers]
    if status not in NO_BODY:
        parts.append(b"content-length: %d\r\n" % len(reply.body))
    parts.append(b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n")
    if status not in NO_BODY and not head_only:
        parts.append(reply.body)
    return b"".join(parts)


def request_handler(api: RestApi) -> Callable[[IntakeRequest], Awaitable[None]]:
    """What the protocol calls for each parsed request (in place of ``Sanic.handle_request``)."""

    async def serve(request: IntakeRequest) -> None:
        http = request.stream
        try:
            if http.request_body:
                await request.receive_body()  # SanicException (budget, deadline): Sanic answers it
            try:
                reply = await api.handle(request.method, request.path, request.headers, request.body)
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.path)
                reply = Reply(500, error_body(E.INTERNAL_ERROR.message))
        finally:
            request.release()
        data = encode(reply, http.keep_alive, http.head_only)
        http.stage, http.response_func = Stage.IDLE, None
        await http._send(data)

    return serve
