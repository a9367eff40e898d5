"""TFS REST endpoints on the data plane: status, metadata, predict (row and column), and the
config endpoints, with OVMS's byte-exact bodies."""

from __future__ import annotations

from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.http.reply import Endpoint, Headers, Reply
from ovserve.frontend.http.routing import Route
from ovserve.frontend.lifecycle import Call
from ovserve.frontend.tfs import rest_layouts as layouts
from ovserve.frontend.tfs.rest_request import parse_predict
from ovserve.frontend.tfs.rest_response import encode_predict


class TfsRest:
    def __init__(self, dataplane: DataPlane, max_json_depth: int) -> None:
        self.dp = dataplane
        self.max_json_depth = max_json_depth

    def endpoints(self) -> dict[str, Endpoint]:
        return {
            "predict": self.predict,
            "status": self.status,
            "metadata": self.metadata,
            "config_status": self.config_status,
            "config_reload": self.config_reload,
        }

    async def predict(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        depth = self.max_json_depth
        request, outcome = await self.dp.infer_call(call, lambda s: parse_predict(body, s.inputs, depth))
        return Reply(200, encode_predict(outcome.outputs, request.row))

    async def status(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        return Reply(200, layouts.model_status(self.dp.table.status(r.model, r.version)).encode())

    async def metadata(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        entry = self.dp.available(r.model, r.version)
        assert entry.signature is not None
        return Reply(200, layouts.model_metadata(r.model, entry.version, entry.signature).encode())

    async def config_status(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        return Reply(200, layouts.config_status(self.dp.table.all_status()).encode())

    async def config_reload(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        http, error = await self.dp.reload_config()
        if error is not None:
            return Reply(http, layouts.config_error_body(error))
        return Reply(http, layouts.config_status(self.dp.table.all_status()).encode())
