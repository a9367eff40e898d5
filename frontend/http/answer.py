"""A REST answer as the bytes written onto the connection: status line, the headers every answer
carries (content type, the CORS headers of ``--allowed_origins`` etc.), content length,
connection, body. The constant parts are encoded once, when the front starts (``use_cors``)."""

from __future__ import annotations

from http import HTTPStatus

from ovserve.frontend.http.reply import JSON, TEXT, Reply, error_body
from ovserve.shared.cors import Cors
from ovserve.shared.errors import Status

_CONTENT: dict[bytes, bytes] = {}


def use_cors(cors: Cors) -> None:
    """The content-type and CORS header lines of every answer of this process."""
    lines = cors.header_lines()
    for kind in (JSON, TEXT):
        _CONTENT[kind] = b"".join(n + b": " + v + b"\r\n" for n, v in ((b"content-type", kind), *lines))


use_cors(Cors())  # OVMS's defaults until the front says otherwise
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


def refusal(status: Status) -> bytes:
    """``status`` as the JSON error answer that ends a connection."""
    return encode(Reply(status.http, error_body(status.message)), False, False)
