"""Request handling of one front, independent of the HTTP framework: route, resolve, parse,
validate, dispatch, encode. Returns (HTTP status, body bytes)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from frontend import layouts
from frontend.dispatch import Dispatcher
from frontend.routing import route
from frontend.table import RoutingTable, VersionEntry, unavailable_error
from frontend.tfs_request import MAX_DEPTH, parse_predict
from frontend.tfs_response import encode_predict
from frontend.validation import validate
from shared import errors as E
from shared.errors import OvmsError
from shared.states import ErrorCode, State

log = logging.getLogger("ovserve.front")
WAIT_FOR_LOADED_S = 10.0  # OVMS DEFAULT_WAIT_FOR_MODEL_LOADED_TIMEOUT_MS
WAIT_POLL_S = 0.1

Reply = tuple[int, bytes]


class Front:
    def __init__(self, dispatcher: Dispatcher, reload: Callable[[], Awaitable[tuple[int, str | None]]]) -> None:
        self.table = RoutingTable()
        self.active = 0  # requests being handled, for the graceful drain
        self.max_json_depth = MAX_DEPTH
        self.dispatcher = dispatcher
        self.reload = reload

    async def handle(self, method: str, path: str, body: bytes) -> Reply:
        self.active += 1
        try:
            r = route(method, path)
            if r.kind == "predict":
                return 200, await self.predict(r.model, r.version, body)
            if r.kind == "status":
                return 200, layouts.model_status(self.table.status(r.model, r.version)).encode()
            if r.kind == "metadata":
                return 200, self.metadata(r.model, r.version)
            if r.kind == "config_status":
                return 200, layouts.config_status(self.table.all_status()).encode()
            if r.kind == "config_reload":
                return await self.config_reload()
            return 200, b""  # OPTIONS: CORS preflight
        except OvmsError as exc:
            return exc.http, layouts.error_body(exc.message)
        finally:
            self.active -= 1

    def metadata(self, name: str, version: int) -> bytes:
        entry = self.table.resolve(name, version)
        if entry.state != State.AVAILABLE or entry.signature is None:
            raise unavailable_error(entry)
        return layouts.model_metadata(name, entry.version, entry.signature).encode()

    async def _available(self, name: str, version: int) -> VersionEntry:
        """Resolve, waiting up to 10 s for a version that is still loading (as OVMS does)."""
        entry = self.table.resolve(name, version)
        deadline = time.monotonic() + WAIT_FOR_LOADED_S
        while entry.state != State.AVAILABLE or not entry.workers or entry.signature is None:
            if entry.state in (State.UNLOADING, State.END) or entry.error != ErrorCode.OK:
                raise unavailable_error(entry)
            if time.monotonic() >= deadline:
                raise unavailable_error(entry)
            await asyncio.sleep(WAIT_POLL_S)
            entry = self.table.resolve(name, version)
        return entry

    async def predict(self, name: str, version: int, body: bytes) -> bytes:
        entry = await self._available(name, version)
        signature = entry.signature
        assert signature is not None
        request = parse_predict(body, signature.inputs, self.max_json_depth)
        inputs = validate(request.inputs, signature)
        try:
            outputs = await self.dispatcher.infer(name, entry, inputs)
        except OvmsError as exc:
            # the default version moved on while this request travelled: serve it with the new one
            if version or exc.status is not E.MODEL_VERSION_NOT_LOADED_ANYMORE:
                raise
            newer = await self._available(name, 0)
            if (newer.version, newer.instance) == (entry.version, entry.instance) or newer.signature is None:
                raise
            outputs = await self.dispatcher.infer(name, newer, validate(request.inputs, newer.signature))
        return encode_predict(outputs, request.row)

    async def config_reload(self) -> Reply:
        http, error = await self.reload()
        if error is not None:
            return http, layouts.config_error_body(error)
        return http, layouts.config_status(self.table.all_status()).encode()
