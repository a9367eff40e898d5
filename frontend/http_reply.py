"""What a REST endpoint of either dialect answers, and the error body both dialects share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import orjson
from ovserve.frontend.routing import Route

Headers = Mapping[str, str]  # looked up by lower-case name (Sanic's headers are case-insensitive)
JSON = b"application/json"  # every answer but /metrics
TEXT = b"text/plain; charset=utf-8"  # /metrics and its error, as OVMS (drogon's CT_TEXT_PLAIN)


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()  # beyond the content type and CORS ones every answer has
    content_type: bytes = JSON


def error_body(message: str) -> bytes:
    """Drogon-era error body: compact ``{"error":"<escaped message>"}``."""
    return b'{"error":' + orjson.dumps(message) + b"}"


Endpoint = Callable[[Route, Headers, bytes], Awaitable[Reply]]
