"""Validated server settings: what the supervisor needs to plan and start everything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovserve.shared.model_config import ModelConfig


@dataclass
class Settings:
    rest_port: int
    rest_bind_address: str = "0.0.0.0"
    models: list[ModelConfig] = field(default_factory=list)
    config_path: str | None = None
    log_level: str = "INFO"
    log_path: str | None = None
    file_system_poll_wait_seconds: int = 1
    front_processes: int = 2
    worker_processes: int = 1
    worker_cpu_sets: list[list[int]] = field(default_factory=list)
    max_body_bytes: int = 1024**3
    arena_bytes: int = 256 * 1024**2
    request_timeout_s: float = 60.0
    shutdown_grace_s: float = 10.0
    max_queue_per_worker: int = 512
    intake_bytes: int = 1 << 62
    read_timeout_s: float = 30.0
    min_upload_rate: float = 65536.0
    keepalive_timeout_s: float = 75.0
    max_connections: int = 0
    max_batch: int = 1
    batch_delay_us: int = 0
    stats_interval_s: float = 10.0
    replicas: int = 0
    max_json_depth: int = 100
    cache_dir: str | None = None
    grpc_port: int = 0  # 0: no gRPC
    grpc_bind_address: str = "0.0.0.0"
    grpc_workers: int = 1  # gRPC front processes
    grpc_channel_arguments: list[list[Any]] = field(default_factory=list)
    grpc_quota_bytes: int = 0  # --grpc_memory_quota over the gRPC fronts; 0: no limit
    metrics_families: tuple[str, ...] = ()  # empty: metrics off (read once, at start, as OVMS)
