"""The HTTP front: Sanic on the listening sockets inherited from the supervisor, serving the
REST port (``frontend.rest``) on the front-process base."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

from ovserve.frontend import process
from ovserve.frontend.http_answer import CORS, request_handler
from ovserve.frontend.http_guard import GuardedProtocol, Intake, IntakeRefused, IntakeRequest, Limits, raise_fd_limit
from ovserve.frontend.http_reply import JSON, error_body
from ovserve.frontend.rest import RestApi
from ovserve.shared import errors as E
from ovserve.shared.child_settings import FrontSettings
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse

log = logging.getLogger("ovserve.front")
ERROR_HEADERS = ((b"content-type", JSON), *CORS)


class JsonResponse(HTTPResponse):
    """Sanic's own errors (a bad head, 408, 413, the intake's refusals) as OVMS-style JSON,
    with the headers every answer has, encoded once."""

    __slots__ = ()

    def __init__(self, body: bytes, status: int) -> None:
        super().__init__(body, status=status)

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        yield from ERROR_HEADERS
        for name, value in self.headers.items():  # only what Sanic adds: content-length, connection
            if value != "":
                yield name.encode("ascii"), str(value).encode("ascii")


def build_app(api: RestApi, settings: FrontSettings) -> Sanic:
    app = Sanic(f"ovserve_front_{settings.index}", configure_logging=False, request_class=IntakeRequest)
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.MOTD = False
    app.config.ACCESS_LOG = False
    app.config.KEEP_ALIVE_TIMEOUT = settings.keepalive_timeout_s or 365 * 86400.0  # 0: never, as OVMS
    # Sanic's inactivity timeout of a request being read; the absolute deadlines of http_guard
    # come first, and this sets how often they are checked (half of it).
    app.config.REQUEST_TIMEOUT = settings.read_timeout_s
    app.config.RESPONSE_TIMEOUT = 300
    fd_room = raise_fd_limit()
    app.ctx.request_handler = request_handler(api)
    app.ctx.limits = Limits(
        Intake(settings.intake_bytes),
        read_timeout_s=settings.read_timeout_s,
        min_upload_rate=settings.min_upload_rate,
        max_connections=settings.max_connections or fd_room,
    )

    async def unreachable(request: Request) -> HTTPResponse:
        raise RuntimeError("the protocol's request handler serves every request")

    app.add_route(unreachable, "/", name="root")  # Sanic starts only with a route

    @app.exception(SanicException)
    async def framework_error(request: Request, exc: SanicException) -> HTTPResponse:
        code = getattr(exc, "status_code", 500) or 500
        if isinstance(exc, IntakeRefused):
            code, message = exc.status.http, exc.status.message
        elif code == 408:
            message = E.READ_TIMEOUT.message
        elif code == 413:
            message = E.REQUEST_TOO_LARGE.message
        elif code == 405:
            code, message = E.REST_UNSUPPORTED_METHOD.http, E.REST_UNSUPPORTED_METHOD.message
        else:
            message = str(exc) or "Bad request"
        return JsonResponse(error_body(message), code)

    return app


class HttpFront(process.FrontProcess):
    async def start_serving(self) -> None:
        api = RestApi(self.dataplane, self.settings.max_json_depth)
        app = build_app(api, self.settings)
        self.servers: list[Any] = []
        for fd in self.settings.listen_fds:
            srv = await app.create_server(
                sock=socket.socket(fileno=fd), protocol=GuardedProtocol, return_asyncio_server=True, access_log=False
            )
            if srv is not None:
                self.servers.append(srv)
        await self.servers[0].startup()
        await self.servers[0].before_start()
        await self.servers[0].after_start()

    async def stop_accepting(self) -> None:
        for srv in self.servers:
            srv.close()  # stop accepting; in-flight requests finish

    def open_connections(self) -> int:
        connections = self.servers[0].connections  # one set, shared by every server of the app
        for conn in list(connections):
            conn.close_if_idle()  # keep-alive connections between requests: close them now
        return len(connections)

    async def abort(self) -> None:
        for conn in list(self.servers[0].connections):
            conn.abort()
        await self.servers[0].before_stop()


def main(argv: list[str] | None = None) -> int:
    return process.main(HttpFront, argv)
