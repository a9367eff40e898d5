"""A front process: Sanic on the listening sockets inherited from the supervisor, a control
channel to the supervisor (routing table in, reloads out) and the dispatcher to the workers."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvloop
import zmq
import zmq.asyncio
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse

from frontend import layouts
from frontend.dispatch import Dispatcher
from frontend.handlers import Front
from frontend.table import RoutingTable
from shared import errors as E
from shared import protocol as P
from shared.lifetime import die_with_parent
from shared.shm import Segment, segment_name

log = logging.getLogger("ovserve.front")
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
# Every answer is JSON with OVMS's default CORS headers. Encoded once: Sanic would otherwise
# sanitise and encode each header of each response (a fifth of a front's CPU in py-spy).
HEADERS = (
    (b"content-type", b"application/json"),
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"*"),
    (b"access-control-allow-headers", b"*"),
)


class JsonResponse(HTTPResponse):
    __slots__ = ()

    def __init__(self, body: bytes, status: int) -> None:
        super().__init__(body, status=status)

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        yield from HEADERS
        for name, value in self.headers.items():  # only what Sanic adds: content-length, connection
            if value != "":
                yield name.encode("ascii"), str(value).encode("ascii")


RELOAD_TIMEOUT_S = 600.0


class Control:
    """The DEALER to the supervisor: applies tables, answers reload calls."""

    def __init__(self, ctx: zmq.asyncio.Context, run_dir: str, front: Front, dispatcher: Dispatcher) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(P.supervisor_endpoint(run_dir))
        self.front = front
        self.dispatcher = dispatcher
        self.reloads: dict[int, asyncio.Future[tuple[int, str | None]]] = {}
        self.next_id = 0
        self.first_table = asyncio.Event()

    async def hello(self, index: int, arena: str) -> None:
        await self.sock.send(P.pack({"t": P.HELLO, "role": "front", "front": index, "arena": arena}))

    async def run(self) -> None:
        while True:
            data = await self.sock.recv()
            try:
                self._on_message(P.unpack(data))
            except Exception:  # keep listening: the next table repairs what this one could not
                log.exception("bad control message")

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg["t"] == P.TABLE:
            table = RoutingTable.from_wire(msg["table"])
            if table.generation >= self.front.table.generation or not self.first_table.is_set():
                self.front.table = table
                self.dispatcher.set_workers(table.workers)
                self.first_table.set()
        elif msg["t"] == P.RELOAD_RESULT:
            fut = self.reloads.pop(msg["id"], None)
            if fut is not None and not fut.done():
                fut.set_result((msg["http"], msg["error"]))

    async def reload(self) -> tuple[int, str | None]:
        """Ask the supervisor to reload; (HTTP code, error message or None)."""
        self.next_id += 1
        rid = self.next_id
        fut: asyncio.Future[tuple[int, str | None]] = asyncio.get_running_loop().create_future()
        self.reloads[rid] = fut
        await self.sock.send(P.pack({"t": P.RELOAD, "id": rid}))
        try:
            return await asyncio.wait_for(fut, RELOAD_TIMEOUT_S)
        except TimeoutError:
            return E.INTERNAL_ERROR.http, E.INTERNAL_ERROR.message
        finally:
            self.reloads.pop(rid, None)


def build_app(front: Front, index: int, max_body: int) -> Sanic:
    app = Sanic(f"ovserve_front_{index}", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = max_body
    app.config.MOTD = False
    app.config.ACCESS_LOG = False
    app.config.KEEP_ALIVE_TIMEOUT = 75
    app.config.REQUEST_TIMEOUT = 300
    app.config.RESPONSE_TIMEOUT = 300

    async def handler(request: Request, path: str = "") -> HTTPResponse:
        try:
            status, body = await front.handle(request.method, request.path, request.body)
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            status, body = 500, layouts.error_body(E.INTERNAL_ERROR.message)
        return JsonResponse(body, status)

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
        return JsonResponse(layouts.error_body(message), code)

    return app


async def serve(args: argparse.Namespace, conf: dict[str, Any]) -> int:
    loop = asyncio.get_running_loop()
    arena_name = segment_name(args.supervisor_pid, f"front{args.index}-g{args.generation}")
    arena = Segment(arena_name, conf["arena_bytes"], create=True)
    ctx = zmq.asyncio.Context()
    dispatcher = Dispatcher(arena, args.run_dir, conf["request_timeout_s"], conf["max_inflight"])
    front = Front(dispatcher, lambda: control.reload())
    front.max_json_depth = conf["max_json_depth"]
    control = Control(ctx, args.run_dir, front, dispatcher)
    control_task = loop.create_task(control.run())
    await control.hello(args.index, arena_name)
    await control.first_table.wait()

    app = build_app(front, args.index, conf["max_body_bytes"])
    servers = []
    for fd in conf["fds"]:
        sock = socket.socket(fileno=fd)
        srv = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        if srv is not None:
            servers.append(srv)
    await servers[0].startup()
    await servers[0].before_start()
    await servers[0].after_start()

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # the supervisor decides
    log.info("front %d ready (pid %d)", args.index, os.getpid())
    await stop.wait()

    for srv in servers:
        srv.close()  # stop accepting; in-flight requests finish below
    connections = servers[0].connections  # one set, shared by every server of the app
    deadline = loop.time() + conf["grace_s"]
    while loop.time() < deadline:
        for conn in list(connections):
            conn.close_if_idle()  # keep-alive connections between requests: close them now
        if not connections and not front.active and not dispatcher.pending:
            break
        await asyncio.sleep(0.05)
    for conn in list(connections):
        conn.abort()
    for srv in servers:
        await srv.before_stop()
        break
    control_task.cancel()
    await asyncio.gather(control_task, return_exceptions=True)
    control.sock.close(linger=0)
    dispatcher.close()
    ctx.term()
    arena.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ovserve-front")
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--supervisor-pid", type=int, required=True)
    p.add_argument("--generation", type=int, default=1)
    args = p.parse_args(argv)
    die_with_parent(args.supervisor_pid)
    level = "DEBUG" if args.log_level == "TRACE" else args.log_level
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format=f"[%(asctime)s][front {args.index}][%(levelname)s] %(message)s",
    )
    return uvloop.run(serve(args, json.loads(args.config)))
