"""The REST port: OVMS's URL rules (``routing``) pick the endpoint and the dialect's adapter
(``tfs_rest``, ``kserve_rest``) answers it. Independent of the HTTP framework: a request is
(method, path, headers, body), an answer a ``Reply``."""

from __future__ import annotations

from frontend.dataplane import DataPlane
from frontend.http_reply import Endpoint, Headers, Reply, error_body
from frontend.kserve_rest.handlers import KServeRest
from frontend.routing import Route, route
from frontend.tfs_rest.handlers import TfsRest
from shared.errors import OvmsError


class RestApi:
    def __init__(self, dataplane: DataPlane, max_json_depth: int) -> None:
        self.dataplane = dataplane
        tfs, kserve = TfsRest(dataplane, max_json_depth), KServeRest(dataplane, max_json_depth)
        self.endpoints: dict[str, Endpoint] = {**tfs.endpoints(), **kserve.endpoints(), "options": _options}

    async def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Reply:
        self.dataplane.active += 1
        try:
            r = route(method, path)
            return await self.endpoints[r.kind](r, headers, body)
        except OvmsError as exc:
            return Reply(exc.http, error_body(exc.message))
        finally:
            self.dataplane.active -= 1


async def _options(route: Route, headers: Headers, body: bytes) -> Reply:
    return Reply(200, b"")  # CORS preflight: the CORS headers every answer carries are the point
