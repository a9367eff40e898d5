"""KServe v2 REST endpoints on the data plane: health, server and model metadata, model ready,
infer (JSON and the binary extension), with OVMS's codes and texts (docs/model_server_rest_api_kfs.md)."""

from __future__ import annotations

from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.http.reply import Endpoint, Headers, Reply
from ovserve.frontend.http.routing import Route
from ovserve.frontend.kserve import rest_response as response
from ovserve.frontend.kserve.model import described, versions_listed
from ovserve.frontend.kserve.rest_request import HEADER_LENGTH, InferRequestV2, header_length, parse_infer
from ovserve.frontend.lifecycle import Call
from ovserve.frontend.validation import KSERVE
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError

_HEADER_LENGTH = HEADER_LENGTH.encode()


class KServeRest:
    def __init__(self, dataplane: DataPlane, max_json_depth: int) -> None:
        self.dp = dataplane
        self.max_json_depth = max_json_depth

    def endpoints(self) -> dict[str, Endpoint]:
        return {
            "kfs_live": self.live,
            "kfs_ready": self.ready,
            "kfs_server_metadata": self.server_metadata,
            "kfs_model_ready": self.model_ready,
            "kfs_model_metadata": self.model_metadata,
            "kfs_infer": self.infer,
        }

    async def live(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        return Reply(200, b"")

    async def ready(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        if not self.dp.ready:
            raise OvmsError(E.SERVER_NOT_READY)
        return Reply(200, b"")

    async def server_metadata(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        return Reply(200, response.server_metadata())

    async def model_ready(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        try:
            described(self.dp, r.model, r.version)
        except OvmsError as exc:
            if exc.status is E.MODEL_VERSION_NOT_LOADED_ANYMORE:
                raise OvmsError(E.MODEL_VERSION_NOT_LOADED_YET) from None  # OVMS: not AVAILABLE
            raise
        return Reply(200, b"")

    async def model_metadata(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        entry = described(self.dp, r.model, r.version)
        assert entry.signature is not None
        return Reply(200, response.model_metadata(r.model, versions_listed(self.dp, r.model, entry), entry.signature))

    async def infer(self, call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
        request = parse_infer(body, header_length(headers), self.max_json_depth)  # before the model
        _, outcome = await self.dp.infer_call(call, request.checked, KSERVE, E.MEDIAPIPE_DEFINITION_NAME_MISSING)
        text, tails = response.encode_infer(
            r.model, outcome.version, request.id, outcome.outputs, _binary_outputs(request)
        )
        if not tails:
            return Reply(200, text)
        return Reply(200, b"".join([text, *tails]), ((_HEADER_LENGTH, str(len(text)).encode()),))


def _binary_outputs(request: InferRequestV2) -> set[str]:
    """Outputs sent as binary: a listed output whose own ``binary_data`` says so, or that the
    request-level ``binary_data_output`` covers (OVMS: only listed outputs are binary)."""
    return {o.name for o in request.outputs if (o.binary if o.binary is not None else request.binary_output)}
