"""CORS as OVMS answers it (src/drogon_http_server.cpp): four flags, sent verbatim as headers on
every REST answer (a header whose value is empty is left out; credentials only when allowed)."""

from __future__ import annotations

from typing import NamedTuple

from ovserve.shared.options import default


class Cors(NamedTuple):
    origins: str = default("allowed_origins")
    methods: str = default("allowed_methods")
    headers: str = default("allowed_headers")
    credentials: bool = default("allow_credentials")

    def header_lines(self) -> tuple[tuple[bytes, bytes], ...]:
        lines = [(b"access-control-allow-credentials", b"true")] if self.credentials else []
        lines += [
            (name, value.encode("latin-1"))
            for name, value in (
                (b"access-control-allow-origin", self.origins),
                (b"access-control-allow-methods", self.methods),
                (b"access-control-allow-headers", self.headers),
            )
            if value
        ]
        return tuple(lines)
