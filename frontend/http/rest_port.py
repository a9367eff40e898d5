"""The REST port: OVMS's URL rules (``routing``) pick the endpoint and the dialect's adapter
(``tfs.rest_endpoints``, ``kserve.rest_endpoints``) answers it, inside the data plane's request lifecycle.
Independent of the HTTP framework: a request is (method, path, headers, body), an answer a
``Reply``."""

from __future__ import annotations

from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.http.reply import REST_ANSWERS, Endpoint, Headers, Reply
from ovserve.frontend.http.routing import Route, route
from ovserve.frontend.kserve.rest_endpoints import KServeRest
from ovserve.frontend.lifecycle import Call
from ovserve.frontend.metrics import series
from ovserve.frontend.openai.rest_endpoints import OpenAiRest
from ovserve.frontend.tfs.rest_endpoints import TfsRest
from ovserve.shared import errors as E
from ovserve.shared.access import REST_GROUP, Access
from ovserve.shared.errors import OvmsError

# route kind -> its metrics series (kinds not here count nowhere, as config and health in OVMS)
COUNTED = {
    kind: series(api, method, "REST")
    for kind, api, method in (
        ("predict", "TensorFlowServing", "Predict"),
        ("metadata", "TensorFlowServing", "GetModelMetadata"),
        ("status", "TensorFlowServing", "GetModelStatus"),
        ("kfs_infer", "KServe", "ModelInfer"),
        ("kfs_model_metadata", "KServe", "ModelMetadata"),
        ("kfs_model_ready", "KServe", "ModelReady"),
    )
}


class RestApi:
    def __init__(self, dataplane: DataPlane, max_json_depth: int, access: Access | None = None) -> None:
        self.dataplane = dataplane
        self.access = access  # None: no API key (nothing checked)
        tfs, kserve = TfsRest(dataplane, max_json_depth), KServeRest(dataplane, max_json_depth)
        self.endpoints: dict[str, Endpoint] = {
            **tfs.endpoints(),
            **kserve.endpoints(),
            **OpenAiRest(dataplane).endpoints(),
            "options": _options,
            "metrics": dataplane.metrics.endpoint(lambda: dataplane.table),
        }

    async def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Reply:
        try:
            r = route(method, path)
        except OvmsError as exc:  # no endpoint: nothing to count, nothing in flight
            return await REST_ANSWERS.refused(exc)
        access = self.access
        if access is not None and access.guards(REST_GROUP[r.kind]) and not access.allows(headers.get("authorization")):
            return await REST_ANSWERS.refused(OvmsError(E.UNAUTHORIZED))  # counted nowhere, as a bad URL
        call = Call(COUNTED.get(r.kind, -1), r.model, r.version)
        return await self.dataplane.lifecycle.run(call, REST_ANSWERS, self.endpoints[r.kind], call, r, headers, body)


async def _options(call: Call, route: Route, headers: Headers, body: bytes) -> Reply:
    return Reply(200, b"")  # CORS preflight: the CORS headers every answer carries are the point
