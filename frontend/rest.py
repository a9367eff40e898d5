"""The REST port: OVMS's URL rules (``routing``) pick the endpoint and the dialect's adapter
(``tfs_rest``, ``kserve_rest``) answers it. Independent of the HTTP framework: a request is
(method, path, headers, body), an answer a ``Reply``."""

from __future__ import annotations

import time

from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.http_reply import Endpoint, Headers, Reply, error_body
from ovserve.frontend.kserve_rest.handlers import KServeRest
from ovserve.frontend.metrics import series
from ovserve.frontend.routing import Route, route
from ovserve.frontend.tfs_rest.handlers import TfsRest
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
    def __init__(self, dataplane: DataPlane, max_json_depth: int) -> None:
        self.dataplane = dataplane
        tfs, kserve = TfsRest(dataplane, max_json_depth), KServeRest(dataplane, max_json_depth)
        self.endpoints: dict[str, Endpoint] = {
            **tfs.endpoints(),
            **kserve.endpoints(),
            "options": _options,
            "metrics": dataplane.metrics.endpoint(lambda: dataplane.table),
        }

    async def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Reply:
        self.dataplane.active += 1
        started = time.perf_counter()
        r: Route | None = None
        ok = False
        try:
            r = route(method, path)
            reply = await self.endpoints[r.kind](r, headers, body)
            ok = True
            return reply
        except OvmsError as exc:
            return Reply(exc.http, error_body(exc.message) if exc.http != 204 else b"")  # 204: no content
        finally:
            self.dataplane.active -= 1
            if r is not None and r.kind in COUNTED:
                dp = self.dataplane
                dp.metrics.request_done(dp.table, r.model, r.version, COUNTED[r.kind], ok, started)


async def _options(route: Route, headers: Headers, body: bytes) -> Reply:
    return Reply(200, b"")  # CORS preflight: the CORS headers every answer carries are the point
