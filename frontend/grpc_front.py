"""The gRPC front: a grpc.aio server on ``--port`` serving the gRPC adapters, on the same
front-process base (arena, dispatcher, data plane, control channel, drain) as the HTTP front.
Several gRPC fronts bind the same port with SO_REUSEPORT; the kernel spreads connections."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from ovserve.frontend import front_process as process
from ovserve.frontend.grpc_api.proto import grpc_predict_v2_pb2 as kserve_pb
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as tfs_pb
from ovserve.frontend.grpc_api.registry import register
from ovserve.frontend.intake import Intake
from ovserve.frontend.kserve.grpc_service import KServeGrpc
from ovserve.frontend.tfs.grpc_service import ModelService, PredictionService
from ovserve.shared import errors as E
from ovserve.shared.access import front_access
from ovserve.shared.tls import TlsFiles, TlsMaterial, checked_material

log = logging.getLogger("ovserve.front")
MAX_MESSAGE_BYTES = (1 << 30) - 1  # OVMS: 1 GiB each way, hard-coded (gRPC's limit is an int32)


def server_options(channel_arguments: list[list[Any]]) -> list[tuple[str, Any]]:
    """OVMS's defaults, then ``--grpc_channel_arguments`` (which may override them)."""
    options: dict[str, Any] = {
        "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
        "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
        "grpc.so_reuseport": 1,
    }
    options.update({str(k): v for k, v in channel_arguments})
    return list(options.items())


def certificate_configuration(material: TlsMaterial) -> Any:
    roots = material.ca if material.require_client else None
    return grpc.ssl_server_certificate_configuration([(material.key, material.cert)], root_certificates=roots)


class GrpcTls:
    """gRPC core's TLS (1.2 or later, ALPN h2); with a CA, client certificates are required and
    verified (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, as PR #4334 and TF
    Serving). Dynamic credentials: gRPC asks ``_fetch`` at each new connection, which hands over
    certificates read again since (SIGHUP); connections already open keep theirs."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        material = checked_material(files, "grpc")
        self.pending: Any = None
        self.credentials = grpc.dynamic_ssl_server_credentials(
            certificate_configuration(material), self._fetch, require_client_authentication=material.require_client
        )

    def _fetch(self) -> Any:
        pending, self.pending = self.pending, None
        return pending

    def reload(self) -> None:
        self.pending = certificate_configuration(checked_material(self.files, "grpc"))


class GrpcFront(process.FrontProcess):
    tls: GrpcTls | None = None
    kind = "grpc front"

    async def start_serving(self) -> None:
        s = self.settings
        self.server = grpc.aio.server(options=server_options(s.grpc_channel_arguments))
        quota = Intake(s.grpc_quota_bytes, E.GRPC_QUOTA_TOO_SMALL, E.GRPC_QUOTA_FULL) if s.grpc_quota_bytes else None
        kserve, tfs = kserve_pb.DESCRIPTOR.services_by_name, tfs_pb.DESCRIPTOR.services_by_name
        access = front_access(s.api_key_file, s.api_key_apis)
        register(self.server, kserve["GRPCInferenceService"], KServeGrpc(self.dataplane), quota, access)
        register(self.server, tfs["PredictionService"], PredictionService(self.dataplane), quota, access)
        register(self.server, tfs["ModelService"], ModelService(self.dataplane), quota, access)
        self.tls = GrpcTls(s.tls) if s.tls is not None else None
        for host in [h.strip() for h in s.grpc_bind_address.split(",") if h.strip()]:
            if self.tls is None:
                self.server.add_insecure_port(f"{host}:{s.grpc_port}")
            else:
                self.server.add_secure_port(f"{host}:{s.grpc_port}", self.tls.credentials)
        await self.server.start()
        self.stopping: asyncio.Task[None] | None = None

    async def stop_accepting(self) -> None:
        # refuses new calls at once; calls in progress get the grace period, then are cancelled
        self.stopping = asyncio.ensure_future(self.server.stop(self.settings.shutdown_grace_s))

    def open_connections(self) -> int:
        return 0 if self.stopping is None or self.stopping.done() else 1

    async def abort(self) -> None:
        if self.stopping is not None:
            await self.stopping


def main(argv: list[str] | None = None) -> int:
    return process.main(GrpcFront, argv)


if __name__ == "__main__":
    raise SystemExit(main())
