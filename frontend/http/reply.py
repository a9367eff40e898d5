"""What a REST endpoint of either dialect answers, and the error body both dialects share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import orjson
from ovserve.frontend.http.routing import Route
from ovserve.frontend.lifecycle import Call
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError

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


Endpoint = Callable[[Call, Route, Headers, bytes], Awaitable[Reply]]


class RestAnswers:
    """The REST port's answers for the request lifecycle: an ``OvmsError`` as its HTTP code and
    ``{"error": text}`` (a 204 has no body), an unexpected failure as OVMS's 500."""

    async def refused(self, error: OvmsError) -> Reply:
        return Reply(error.http, error_body(error.message) if error.http != 204 else b"")

    async def failed(self) -> Reply:
        return Reply(E.INTERNAL_ERROR.http, error_body(E.INTERNAL_ERROR.message))


REST_ANSWERS = RestAnswers()
