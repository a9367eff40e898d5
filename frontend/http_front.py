"""The HTTP front: the REST port (``frontend.http.rest_port``) on the listening sockets inherited from the
supervisor, one ``http.connection.HttpConnection`` per client, on the front-process base.

The front's one timer is the sweep over its connections (read deadlines, idle keep-alive), not
a timer per connection or per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from time import monotonic

from ovserve.frontend import front_process as process
from ovserve.frontend.http.answer import use_cors
from ovserve.frontend.http.connection import HttpConnection
from ovserve.frontend.http.guard import Limits, raise_fd_limit
from ovserve.frontend.http.rest_port import RestApi
from ovserve.frontend.intake import Intake
from ovserve.shared.access import front_access
from ovserve.shared.tls import RestTls

log = logging.getLogger("ovserve.front")
BACKLOG = 1024


def sweep_period(read_timeout_s: float) -> float:
    """How often deadlines are checked: a deadline is enforced at most this late."""
    return min(1.0, max(0.05, read_timeout_s / 8))


TLS_SHUTDOWN_S = 1.0


class HttpFront(process.FrontProcess):
    tls: RestTls | None = None

    async def start_serving(self) -> None:
        s = self.settings
        use_cors(s.cors)
        api = RestApi(self.dataplane, s.max_json_depth, front_access(s.api_key_file, s.api_key_apis))
        self.limits = Limits(
            Intake(s.intake_bytes),
            max_body_bytes=s.max_body_bytes,
            read_timeout_s=s.read_timeout_s,
            min_upload_rate=s.min_upload_rate,
            max_connections=s.max_connections or raise_fd_limit(),
        )
        self.connections: set[HttpConnection] = set()
        loop = asyncio.get_running_loop()

        def connection() -> HttpConnection:
            return HttpConnection(api.handle, self.limits, self.connections)

        # TLS: the handshake is part of the request head's read deadline; a closing connection
        # waits for the client's close_notify only briefly (else a silent client holds the drain)
        self.tls = RestTls(s.tls) if s.tls is not None else None
        context = self.tls.listening if self.tls is not None else None
        handshake_s = s.read_timeout_s if context is not None else None
        shutdown_s = TLS_SHUTDOWN_S if context is not None else None
        self.servers = [
            await loop.create_server(
                connection,
                sock=socket.socket(fileno=fd),
                backlog=BACKLOG,
                ssl=context,
                ssl_handshake_timeout=handshake_s,
                ssl_shutdown_timeout=shutdown_s,
            )
            for fd in s.listen_fds
        ]
        self.sweeper = loop.create_task(self._sweep(s.keepalive_timeout_s))

    async def _sweep(self, keepalive_s: float) -> None:
        period = sweep_period(self.limits.read_timeout_s)
        while True:
            await asyncio.sleep(period)
            now = monotonic()
            for conn in list(self.connections):
                try:
                    conn.check(now, keepalive_s)
                except Exception:  # one connection's trouble must not end the sweep
                    log.exception("checking a connection's deadlines")

    async def stop_accepting(self) -> None:
        for srv in self.servers:
            srv.close()  # stop accepting; in-flight requests finish

    def open_connections(self) -> int:
        for conn in list(self.connections):
            conn.close_if_idle()  # keep-alive connections between requests: close them now
        return len(self.connections)

    async def abort(self) -> None:
        self.sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.sweeper
        for conn in list(self.connections):
            conn.abort()


def main(argv: list[str] | None = None) -> int:
    return process.main(HttpFront, argv)
