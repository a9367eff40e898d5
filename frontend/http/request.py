"""A request a REST connection has parsed, waiting for its turn to be answered (requests on one
connection are answered in order)."""

from __future__ import annotations

from ovserve.shared.errors import Status


class Request:
    """A parsed request waiting for its turn, or (``refusal``) the error that ends the connection."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "refusal", "reserved")

    def __init__(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
        reserved: int,
        refusal: Status | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.reserved = reserved  # intake bytes this request holds until answered
        self.refusal = refusal
