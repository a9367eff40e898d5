"""What the supervisor hands each child process, as typed objects: one JSON argument each way,
the same field names on both sides (built from ``ovserve.settings.Settings`` in one place)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass(frozen=True)
class ChildSettings:
    """Fields every child has: who it is and where its peers are."""

    index: int
    run_dir: str
    supervisor_pid: int
    log_level: str = "INFO"
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
    arena_bytes: int = 256 * 1024**2
    max_body_bytes: int = 1024**3
    max_json_depth: int = 100
    request_timeout_s: float = 60.0
    shutdown_grace_s: float = 10.0
    max_queue_per_worker: int = 512
    intake_bytes: int = 1 << 62  # request-body memory a REST front may commit (see http_guard)
    read_timeout_s: float = 30.0
    min_upload_rate: float = 65536.0
    keepalive_timeout_s: float = 75.0
    max_connections: int = 0  # 0: as many as the open-files limit allows
    single_model: bool = False
    grpc_port: int = 0  # gRPC fronts: the port they bind (SO_REUSEPORT) and where
    grpc_bind_address: str = "0.0.0.0"
    grpc_channel_arguments: list[list[Any]] = field(default_factory=list)  # [name, value] pairs
    grpc_quota_bytes: int = 0  # request-message bytes a gRPC front holds at once; 0: no limit

    def __post_init__(self) -> None:
        object.__setattr__(self, "listen_fds", tuple(self.listen_fds))  # JSON brings a list
        object.__setattr__(self, "metrics_families", tuple(self.metrics_families))


@dataclass(frozen=True)
class WorkerSettings(ChildSettings):
    """A worker process: its CPU set and its inference options."""

    cpus: tuple[int, ...] = field(default_factory=tuple)
    cache_dir: str | None = None
    max_batch: int = 1
    batch_delay_us: int = 0
    stats_interval_s: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpus", tuple(self.cpus))
        object.__setattr__(self, "metrics_families", tuple(self.metrics_families))
