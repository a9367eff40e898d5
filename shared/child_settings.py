"""What the supervisor hands each child process, as typed objects: one JSON argument each way,
the same field names on both sides (built from ``ovserve.settings.Settings`` in one place)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Self

from ovserve.shared.cors import Cors
from ovserve.shared.options import MIB, default
from ovserve.shared.tls import TlsFiles


@dataclass(frozen=True)
class ChildSettings:
    """Fields every child has: who it is and where its peers are."""

    index: int
    run_dir: str
    supervisor_pid: int
    log_level: str = default("log_level")
    log_path: str | None = None  # --log_path: every process appends its lines to it too
    metrics_families: tuple[str, ...] = ()  # the families /metrics serves; empty: metrics off

    @classmethod
    def build(cls, source: object, **given: Any) -> Self:
        """The settings of one child: ``given`` fields, the rest taken by name from ``source``
        (the server's settings use the same names, so each value has one name everywhere)."""
        names = {f.name for f in dataclasses.fields(cls)} - set(given)
        return cls(**given, **{n: getattr(source, n) for n in names if hasattr(source, n)})

    def to_arg(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_arg(cls, text: str) -> Self:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class FrontSettings(ChildSettings):
    """A front process (HTTP today; a gRPC front takes the same)."""

    listen_fds: tuple[int, ...] = ()
    arena_bytes: int = default("shm_arena_mb") * MIB
    max_body_bytes: int = default("max_request_bytes")
    max_json_depth: int = default("max_json_depth")
    request_timeout_s: float = default("request_timeout_seconds")
    shutdown_grace_s: float = default("shutdown_grace_seconds")
    max_queue_per_worker: int = default("max_queue_per_worker")
    intake_bytes: int = 1 << 62  # request-body memory a REST front may commit (see frontend/intake.py)
    read_timeout_s: float = default("rest_read_timeout_seconds")
    min_upload_rate: float = default("rest_min_upload_bytes_per_second")
    keepalive_timeout_s: float = default("rest_keepalive_timeout_seconds")
    max_connections: int = 0  # 0: as many as the open-files limit allows
    single_model: bool = False
    grpc_port: int = 0  # gRPC fronts: the port they bind (SO_REUSEPORT) and where
    grpc_bind_address: str = default("grpc_bind_address")
    grpc_channel_arguments: list[list[Any]] = field(default_factory=list)  # [name, value] pairs
    grpc_quota_bytes: int = 0  # request-message bytes a gRPC front holds at once; 0: no limit
    cors: Cors = field(default_factory=Cors)  # the CORS headers of every REST answer
    tls: TlsFiles | None = None  # the TLS sources of this front's port; None: plain
    # the key is read by each front from the file (or its inherited environment): never on a command line
    api_key_file: str = ""
    api_key_apis: tuple[str, ...] = ()  # empty: no key

    def __post_init__(self) -> None:
        object.__setattr__(self, "listen_fds", tuple(self.listen_fds))  # JSON brings a list
        object.__setattr__(self, "cors", Cors(*self.cors))
        object.__setattr__(self, "api_key_apis", tuple(self.api_key_apis))
        if self.tls is not None:
            object.__setattr__(self, "tls", TlsFiles(*self.tls))
        object.__setattr__(self, "metrics_families", tuple(self.metrics_families))


@dataclass(frozen=True)
class WorkerSettings(ChildSettings):
    """A worker process: its CPU set and its inference options."""

    cpus: tuple[int, ...] = field(default_factory=tuple)
    cache_dir: str | None = None
    cpu_extension: str = ""  # --cpu_extension: a library of custom operations OpenVINO loads
    max_batch: int = default("max_batch")
    batch_delay_us: int = default("batch_delay_us")
    stats_interval_s: float = default("stats_interval_seconds")

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpus", tuple(self.cpus))
        object.__setattr__(self, "metrics_families", tuple(self.metrics_families))
