"""A front's control channel: the DEALER to the supervisor's ROUTER. Routing tables come in
(applied to the data plane and the dispatcher, and acknowledged), config reloads go out and their
answers back."""

from __future__ import annotations

import asyncio
import logging

import zmq
import zmq.asyncio
from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.dispatch import Dispatcher
from ovserve.frontend.table import RoutingTable
from ovserve.shared import control as C
from ovserve.shared import errors as E
from ovserve.shared import protocol as P

log = logging.getLogger("ovserve.front")
RELOAD_TIMEOUT_S = 600.0


class Control:
    def __init__(self, ctx: zmq.asyncio.Context, run_dir: str, dataplane: DataPlane, dispatcher: Dispatcher) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(P.supervisor_endpoint(run_dir))
        self.dataplane = dataplane
        self.dispatcher = dispatcher
        self.reloads: dict[int, asyncio.Future[tuple[int, str | None]]] = {}
        self.next_id = 0
        self.first_table = asyncio.Event()
        self.index = -1

    async def hello(self, index: int, pid: int, generation: int, arena: str) -> None:
        self.index = index
        await self.sock.send(C.encode(C.Hello(C.FRONT, index, pid, generation, arena)))

    async def serving(self, index: int) -> None:
        await self.sock.send(C.encode(C.Serving(index)))

    async def run(self) -> None:
        while True:
            data = await self.sock.recv()
            try:
                self._on_message(C.decode(data))
            except Exception:  # keep listening: the next table repairs what this one could not
                log.exception("bad control message")

    def _on_message(self, msg: C.ControlMessage) -> None:
        if isinstance(msg, C.TableUpdate):
            table = RoutingTable.from_wire(msg.table)
            if table.generation >= self.dataplane.table.generation or not self.first_table.is_set():
                self.dataplane.set_table(table)
                self.dispatcher.set_workers(table.workers)
                self.first_table.set()
            # the supervisor answers a reload once every front says it has the reload's table
            self.sock.send(C.encode(C.TableApplied(self.index, self.dataplane.table.generation)))
        elif isinstance(msg, C.ReloadResult):
            fut = self.reloads.pop(msg.id, None)
            if fut is not None and not fut.done():
                fut.set_result((msg.http, msg.error))

    async def reload(self) -> tuple[int, str | None]:
        """Ask the supervisor to reload; (HTTP code, error message or None)."""
        self.next_id += 1
        rid = self.next_id
        fut: asyncio.Future[tuple[int, str | None]] = asyncio.get_running_loop().create_future()
        self.reloads[rid] = fut
        await self.sock.send(C.encode(C.Reload(rid)))
        try:
            return await asyncio.wait_for(fut, RELOAD_TIMEOUT_S)
        except TimeoutError:
            return E.INTERNAL_ERROR.http, E.INTERNAL_ERROR.message
        finally:
            self.reloads.pop(rid, None)

    def close(self) -> None:
        self.sock.close(linger=0)
