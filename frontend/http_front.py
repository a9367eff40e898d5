"""The HTTP front: Sanic on the listening sockets inherited from the supervisor, serving the
REST port (``frontend.rest``) on the front-process base."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

from ovserve.frontend import process
from ovserve.frontend.http_reply import JSON, TEXT, Reply, error_body
from ovserve.frontend.rest import RestApi
from ovserve.shared import errors as E
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse

log = logging.getLogger("ovserve.front")
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
# Every answer has its content type and OVMS's default CORS headers. Encoded once: Sanic would
# otherwise sanitise and encode each header of each response (a fifth of a front's CPU in py-spy).
CORS = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"*"),
    (b"access-control-allow-headers", b"*"),
)
HEADERS = {kind: ((b"content-type", kind), *CORS) for kind in (JSON, TEXT)}


class JsonResponse(HTTPResponse):
    __slots__ = ("extra", "fixed")

    def __init__(
        self, body: bytes, status: int, extra: tuple[tuple[bytes, bytes], ...] = (), content_type: bytes = JSON
    ) -> None:
        super().__init__(body, status=status)
        self.extra = extra
        self.fixed = HEADERS[content_type]

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        yield from self.fixed
        yield from self.extra
        for name, value in self.headers.items():  # only what Sanic adds: content-length, connection
            if value != "":
                yield name.encode("ascii"), str(value).encode("ascii")


def build_app(api: RestApi, index: int, max_body: int) -> Sanic:
    app = Sanic(f"ovserve_front_{index}", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = max_body
    app.config.MOTD = False
    app.config.ACCESS_LOG = False
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.config.REQUEST_TIMEOUT = 300
    app.config.RESPONSE_TIMEOUT = 300

    async def handler(request: Request, path: str = "") -> HTTPResponse:
        try:
            reply = await api.handle(request.method, request.path, request.headers, request.body)
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            reply = Reply(500, error_body(E.INTERNAL_ERROR.message))
        return JsonResponse(reply.body, reply.status, reply.headers, reply.content_type)

    app.add_route(handler, "/", methods=METHODS, name="root")
    app.add_route(handler, "/<path:path>", methods=METHODS, name="any")

    @app.exception(SanicException)
    async def framework_error(request: Request, exc: SanicException) -> HTTPResponse:
        code = getattr(exc, "status_code", 500) or 500
        if code == 413:
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
        app = build_app(api, self.settings.index, self.settings.max_body_bytes)
        self.servers: list[Any] = []
        for fd in self.settings.listen_fds:
            srv = await app.create_server(sock=socket.socket(fileno=fd), return_asyncio_server=True, access_log=False)
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
