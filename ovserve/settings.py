"""Validated server settings: what the supervisor needs to plan and start everything. Defaults
are the option table's (``shared.options``), in the settings' units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovserve.shared.cors import Cors
from ovserve.shared.model_config import ModelConfig
from ovserve.shared.options import MIB, default
from ovserve.shared.tls import TlsFiles


@dataclass
class Settings:
    rest_port: int
    rest_bind_address: str = default("rest_bind_address")
    models: list[ModelConfig] = field(default_factory=list)
    config_path: str | None = None
    log_level: str = default("log_level")
    log_path: str | None = None
    file_system_poll_wait_seconds: int = default("file_system_poll_wait_seconds")
    front_processes: int = 2
    worker_processes: int = 1
    worker_cpu_sets: list[list[int]] = field(default_factory=list)
    max_body_bytes: int = default("max_request_bytes")
    arena_bytes: int = default("shm_arena_mb") * MIB
    request_timeout_s: float = default("request_timeout_seconds")
    shutdown_grace_s: float = default("shutdown_grace_seconds")
    max_queue_per_worker: int = default("max_queue_per_worker")
    intake_bytes: int = 1 << 62
    read_timeout_s: float = default("rest_read_timeout_seconds")
    min_upload_rate: float = default("rest_min_upload_bytes_per_second")
    keepalive_timeout_s: float = default("rest_keepalive_timeout_seconds")
    max_connections: int = default("rest_max_connections")
    max_batch: int = default("max_batch")
    batch_delay_us: int = default("batch_delay_us")
    stats_interval_s: float = default("stats_interval_seconds")
    replicas: int = default("model_replicas")
    max_json_depth: int = default("max_json_depth")
    cache_dir: str | None = None
    cpu_extension: str = ""  # absolute; "": none
    cors: Cors = field(default_factory=Cors)
    api_key_file: str = ""  # "": the API_KEY environment variable, if any
    api_key_apis: tuple[str, ...] = ()  # the groups a key guards (empty: no key)
    rest_tls: TlsFiles | None = None  # None: plain HTTP
    grpc_tls: TlsFiles | None = None  # None: plain gRPC
    grpc_port: int = 0  # 0: no gRPC
    grpc_bind_address: str = default("grpc_bind_address")
    grpc_workers: int = default("grpc_workers")  # gRPC front processes
    grpc_channel_arguments: list[list[Any]] = field(default_factory=list)
    grpc_quota_bytes: int = 0  # --grpc_memory_quota over the gRPC fronts; 0: no limit
    metrics_families: tuple[str, ...] = ()  # empty: metrics off (read once, at start, as OVMS)
