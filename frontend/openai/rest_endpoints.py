"""``GET /v3/models`` and ``/v3/models/{name}`` (and the ``/v3/v1/...`` forms): the servables
that are available, in OpenAI's list and retrieve format, as OVMS 2026.2 answers them
(src/http_rest_api_handler.cpp processListModelsRequest, processRetrieveModelRequest)."""

from __future__ import annotations

import time

import orjson
from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.http.reply import Endpoint, Headers, Reply
from ovserve.frontend.http.routing import Route
from ovserve.frontend.lifecycle import Call
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError


def _model(name: str, created: int) -> dict[str, object]:
    return {"id": name, "object": "model", "created": created, "owned_by": "OVMS"}


class OpenAiRest:
    def __init__(self, dataplane: DataPlane) -> None:
        self.dp = dataplane

    def endpoints(self) -> dict[str, Endpoint]:
        return {"v3_list": self.list_models, "v3_model": self.retrieve_model}

    async def list_models(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        created = int(time.time())
        names = self.dp.table.available()
        return Reply(200, orjson.dumps({"data": [_model(n, created) for n in names], "object": "list"}))

    async def retrieve_model(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        if r.model not in self.dp.table.available():
            raise OvmsError(E.V3_MODEL_NOT_FOUND)
        return Reply(200, orjson.dumps(_model(r.model, int(time.time()))))
