"""The front's dispatcher against a stand-in worker on a real Unix socket: frames that the socket
takes only in parts, replies matched by id, a connection the worker drops, and the reconnect."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from ovserve.frontend.dispatch import Dispatcher
from ovserve.frontend.table import VersionEntry
from ovserve.shared import errors as E
from ovserve.shared import protocol as P
from ovserve.shared.errors import OvmsError
from ovserve.shared.messages import Attach, InferRequest, InferResult, TensorDesc
from ovserve.shared.shm import Segment, run_dir, segment_name
from ovserve.shared.signature import Signature, TensorSpec
from ovserve.shared.states import ErrorCode, State

from tests.server_util import Server

SIGNATURE = Signature((TensorSpec("x", "f32", ((1, 1), (4, 4))),), (TensorSpec("y", "f32", ((1, 1), (4, 4))),))
ENTRY = VersionEntry(1, State.AVAILABLE, ErrorCode.OK, SIGNATURE, [0], 1)


class StandIn:
    """Answers INFER descriptors like a worker: y = x * 2, read from and written to the arena."""

    def __init__(self, path: str, arena: Segment) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.listener.setblocking(False)
        self.arena = arena
        self.attached: list[int] = []  # generations named by ATTACH

    async def serve(self, slow_s: float = 0.0, close_after: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        conn, _ = await loop.sock_accept(self.listener)
        reader = P.FrameReader()
        answered = 0
        try:
            while True:
                data = await loop.sock_recv(conn, 4096)
                if not data:
                    return
                await asyncio.sleep(slow_s)  # a worker slower than the front: the socket fills up
                results = []
                for message in reader.feed(data):
                    attach = Attach.decode(message)
                    if attach is not None:
                        self.attached.append(attach.generation)
                        continue
                    request = InferRequest.decode(message)
                    x = request.inputs[0]
                    y = self.arena.view(x.offset, x.dtype, x.shape) * 2
                    self.arena.view(request.out_offset, y.dtype, y.shape)[:] = y
                    desc = TensorDesc("y", request.out_offset, y.dtype.str, list(y.shape))
                    results.append(InferResult(request.rid, [desc]).encode())
                    answered += 1
                    if close_after is not None and answered >= close_after:
                        return
                if results:
                    await loop.sock_sendall(conn, P.frame(results))
        finally:
            conn.close()


def _run(body: Callable[[Dispatcher, StandIn, str], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        folder = tempfile.mkdtemp(prefix="ovserve-dispatch-")
        arena = Segment(segment_name(os.getpid(), "dispatch-test"), 16 << 20, create=True)
        stand_in = StandIn(P.worker_path(folder, 0), arena)
        dispatcher = Dispatcher(arena, folder, timeout_s=10)
        try:
            return await body(dispatcher, stand_in, folder)
        finally:
            dispatcher.close()
            stand_in.listener.close()
            os.unlink(P.worker_path(folder, 0))
            os.rmdir(folder)
            arena.close()
            arena.unlink()

    return asyncio.run(main())


def _request(i: int) -> list[tuple[TensorSpec, np.ndarray]]:
    return [(SIGNATURE.inputs[0], np.full((1, 4), i, np.float32))]


def test_partial_sends_and_replies_by_id() -> None:
    async def body(dispatcher: Dispatcher, stand_in: StandIn, _: str) -> None:
        server = asyncio.create_task(stand_in.serve(slow_s=0.002))
        dispatcher.set_workers({0: 1})
        dispatcher.workers.links[0].sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        writes: list[int] = []
        write = dispatcher.workers._write

        def counted_write(index: int) -> None:
            writes.append(index)
            write(index)

        dispatcher.workers._write = counted_write  # type: ignore[method-assign]
        outputs = await asyncio.gather(*(dispatcher.infer("m", ENTRY, _request(i)) for i in range(400)))
        assert writes  # the frame went out in parts, from the writer callback
        for i, result in enumerate(outputs):
            assert result[0][0] == "y"
            assert np.array_equal(result[0][1], np.full((1, 4), 2 * i, np.float32))
        assert not dispatcher.pending and dispatcher.alloc.blocks_in_use == 0
        assert not dispatcher.workers.links[0].unsent
        assert stand_in.attached == [1]  # the connection opened by naming the table's generation
        server.cancel()

    _run(body)


def test_dropped_connection_fails_inflight_then_reconnects() -> None:
    async def body(dispatcher: Dispatcher, stand_in: StandIn, _: str) -> None:
        server = asyncio.create_task(stand_in.serve(close_after=3))
        dispatcher.set_workers({0: 1})
        results = await asyncio.gather(
            *(dispatcher.infer("m", ENTRY, _request(i)) for i in range(10)), return_exceptions=True
        )
        await server
        failed = [r for r in results if isinstance(r, OvmsError)]
        assert failed and all(r.status is E.WORKER_UNAVAILABLE for r in failed)
        assert dispatcher.alloc.blocks_in_use == 0  # blocks of failed requests released
        again = asyncio.create_task(stand_in.serve())
        for _attempt in range(50):  # the dispatcher reconnects while the table names the same generation
            if 0 in dispatcher.workers.links:
                break
            await asyncio.sleep(0.05)
        result = await dispatcher.infer("m", ENTRY, _request(7))
        assert np.array_equal(result[0][1], np.full((1, 4), 14, np.float32))
        again.cancel()

    _run(body)


def test_worker_not_in_table_is_unavailable() -> None:
    async def body(dispatcher: Dispatcher, _stand_in: StandIn, _: str) -> None:
        with pytest.raises(OvmsError) as info:
            await dispatcher.infer("m", ENTRY, _request(1))
        assert info.value.status is E.WORKER_UNAVAILABLE

    _run(body)


def _attach_to_real_worker(server: Server, generation: int) -> bytes:
    """Open the data connection of the server's worker 0 as a front would, naming ``generation``,
    then send one descriptor for a model that does not exist; what comes back (b"" if closed)."""
    path = P.worker_path(run_dir(server.proc.pid), 0)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        try:
            sock.sendall(P.frame([Attach(generation).encode()]))
            sock.sendall(P.frame([InferRequest(1, "nope", 1, 1, 0.0, 1e12, "none", 0, [], 0, 0).encode()]))
            return sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):  # the worker closed the connection
            return b""


def test_worker_refuses_a_front_of_another_generation(single_server: Server) -> None:
    assert _attach_to_real_worker(single_server, 99) == b""  # closed: never served under a stale name
    reply = P.FrameReader().feed(_attach_to_real_worker(single_server, 1))
    assert [InferResult.decode(m) for m in reply] == [InferResult.failure(1, "MODEL_VERSION_NOT_LOADED_ANYMORE")]


def test_client_gone_after_its_request_failed_frees_the_block_once() -> None:
    """A request whose worker is gone (its block freed with the failure) and whose client hangs
    up before the failure reaches it: cancelled, the block not released twice (a KeyError, a
    500 and a traceback per request before, seen when wrk stopped during a server's shutdown)."""

    async def body(dispatcher: Dispatcher, stand_in: StandIn, _: str) -> None:
        server = asyncio.create_task(stand_in.serve(slow_s=1.0))
        dispatcher.set_workers({0: 1})
        task = asyncio.create_task(dispatcher.infer("m", ENTRY, _request(1)))
        while not dispatcher.pending:
            await asyncio.sleep(0.01)
        dispatcher._gone(0)  # the failure and the hang-up in the same loop turn
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert dispatcher.alloc.blocks_in_use == 0
        server.cancel()

    _run(body)
