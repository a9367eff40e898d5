"""What keeps an HTTP front answering under hostile load (``http.connection`` applies it): a
bounded number of connections, a deadline for each request's head and body (a client sending a
byte a second is cut off), and a memory budget for request bodies being received and decoded
(``intake.Intake``).

The deadlines are absolute, not inactivity timeouts (any byte would reset those, so a slow
client never trips them). Each body is held whole, so a budget is the only way to bound what
many concurrent large bodies cost."""

from __future__ import annotations

import resource
from dataclasses import dataclass

from ovserve.frontend.intake import Intake
from ovserve.shared.options import default

# Peak memory a body costs while it is held and decoded, as a multiple of its bytes (measured:
# numeric JSON 8-15x, JSON of named instances or deep arrays 21-23x; KServe's binary extension
# keeps the body and one copy of each tensor).
JSON_COST = 24
BINARY_COST = 3
BINARY_HEADER = "inference-header-content-length"
FD_RESERVE = 256  # descriptors kept for ZeroMQ, the arena, logs
MAX_AUTO_CONNECTIONS = 10000
CHUNK_ALLOWANCE = 64 * 1024  # a chunked body must keep sending: its deadline grows by this much


@dataclass
class Limits:
    """A front's limits, shared by all its connections (``app.ctx.limits``)."""

    intake: Intake
    max_body_bytes: int = default("max_request_bytes")
    read_timeout_s: float = default("rest_read_timeout_seconds")
    min_upload_rate: float = default("rest_min_upload_bytes_per_second")
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
