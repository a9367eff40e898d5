"""Command line: the flags (``cli_flags``) validated with OVMS's texts into ``Settings``.

Errors are reported as OVMS reports them: the message on stderr and exit status 64 (EX_USAGE).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ovserve import __version__
from ovserve.cli_flags import MAX_NIREQ, UsageError, build_parser
from ovserve.cpuplan import allowed_cpus, parse_cpu_sets, split_evenly, validate_sets
from ovserve.grpc_options import parse_channel_arguments
from ovserve.memory_plan import intake_per_front
from ovserve.metrics_config import metric_families
from ovserve.settings import Settings
from ovserve.shared.logsetup import LEVELS, SUPERVISOR_ROLE, setup_logging
from ovserve.shared.metrics_layout import MetricsConfigError
from ovserve.shared.model_config import (
    ConfigError,
    ModelConfig,
    ShapeOption,
    VersionPolicy,
    parse_batch_size,
    parse_layout,
    parse_plugin_config,
)

EX_USAGE = 64
T = TypeVar("T")
log = logging.getLogger("ovserve")


def default_workers(cpus: list[int]) -> int:
    """One worker per two CPUs: measured on 2 CPUs, one worker (2 threads) serves the tiny
    model 14% faster than two pinned single-CPU workers, and the CNN as fast."""
    return max(1, len(cpus) // 2)


def default_fronts(cpus: list[int]) -> int:
    """JSON decoding is the other half of the work: one front per two CPUs, at least 2."""
    return min(16, max(2, len(cpus) // 2))


def _flag(name: str, parse: Callable[[Any], T], value: Any) -> T:
    """``parse(value)``, its error reported as one line naming the flag."""
    try:
        return parse(value)
    except (ConfigError, ValueError) as exc:
        text = str(exc)
        raise UsageError(text if text.startswith(name) else f"{name}: {text}") from None


def _model_flags_given(a: argparse.Namespace) -> bool:
    return (
        any(v is not None for v in (a.batch_size, a.shape, a.layout, a.model_version_policy, a.plugin_config))
        or a.nireq != 0
        or a.target_device != "CPU"
    )


def settings_from_args(argv: list[str]) -> Settings | None:
    """Parse and validate; None means --version/--help was answered."""
    a = build_parser().parse_args(argv)
    if a.version:
        print(f"ovserve {__version__} (OpenVINO Model Server REST API compatible)")
        return None
    if a.config_path and (a.model_name or a.model_path):
        raise UsageError("Use either config_path or model_path with model_name")
    if a.config_path and _model_flags_given(a):
        raise UsageError("Model parameters in CLI are exclusive with the config file")
    if not a.config_path and not (a.model_name and a.model_path):
        raise UsageError("Use config_path or model_path with model_name")
    for flag in ("port", "rest_port"):
        if not 0 <= getattr(a, flag) <= 65535:
            raise UsageError(f"{flag} number out of range from 0 to 65535")
    if a.port and a.port == a.rest_port:
        raise UsageError("port and rest_port cannot have the same values")
    if not a.rest_port and not a.port:
        raise UsageError("port and rest_port cannot both be unset")
    if not a.rest_port:
        raise UsageError("rest_port setting is missing: ovserve serves the REST API only")
    try:
        channel_arguments = parse_channel_arguments(a.grpc_channel_arguments, len(allowed_cpus()))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cores = len(allowed_cpus())
    if a.port and not 1 <= a.grpc_workers <= cores:
        raise UsageError(f"grpc_workers count should be from 1 to CPU core count : {cores}")
    if a.grpc_max_threads is not None and a.grpc_max_threads < 1:
        raise UsageError("grpc_max_threads must be positive")
    if a.grpc_memory_quota < 0:
        raise UsageError("grpc_memory_quota must not be negative")
    if a.custom_node_resources_cleaner_interval_seconds < 0:
        raise UsageError("custom_node_resources_cleaner_interval_seconds must not be negative")
    if a.rest_workers is not None and not 2 <= a.rest_workers <= 10000:
        raise UsageError("rest_workers count should be from 2 to 10000")
    if a.log_path:
        try:
            with open(a.log_path, "a"):
                pass
        except OSError as exc:
            raise UsageError(f"log_path: cannot write {a.log_path}: {exc.strerror}") from None
    if a.log_level not in LEVELS:
        raise UsageError("log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR")
    if a.file_system_poll_wait_seconds < 0:
        raise UsageError("file_system_poll_wait_seconds should be a non-negative number")
    if a.nireq < 0 or a.nireq > MAX_NIREQ:
        raise UsageError("Nireq parameter too high - Exceeded allowed nireq value")
    try:
        metrics_families = metric_families(a.metrics_enable, a.metrics_list, a.config_path)
    except MetricsConfigError as exc:
        raise UsageError(str(exc)) from None
    limits = [
        (a.max_request_bytes >= 1, "max_request_bytes must be positive"),
        (a.max_json_depth >= 2, "max_json_depth must be at least 2"),
        (a.shm_arena_mb >= 1, "shm_arena_mb must be positive"),
        (a.request_timeout_seconds > 0, "request_timeout_seconds must be positive"),
        (a.shutdown_grace_seconds >= 0, "shutdown_grace_seconds must not be negative"),
        (a.max_queue_per_worker >= 1, "max_queue_per_worker must be at least 1"),
        (a.model_replicas >= 0, "model_replicas must not be negative"),
        (a.max_batch >= 1 and a.batch_delay_us >= 0, "max_batch must be at least 1 and batch_delay_us not negative"),
        (a.max_intake_mb >= 0, "max_intake_mb must not be negative"),
        (a.rest_read_timeout_seconds > 0, "rest_read_timeout_seconds must be positive"),
        (a.rest_min_upload_bytes_per_second >= 1, "rest_min_upload_bytes_per_second must be positive"),
        (a.rest_keepalive_timeout_seconds >= 0, "rest_keepalive_timeout_seconds must not be negative"),
        (a.rest_max_connections >= 0, "rest_max_connections must not be negative"),
    ]
    for ok, message in limits:
        if not ok:
            raise UsageError(message)

    models: list[ModelConfig] = []
    if a.model_name:
        try:
            policy = VersionPolicy.parse(a.model_version_policy)
        except (ConfigError, ValueError) as exc:
            raise UsageError(f"model_version_policy: {exc}") from exc
        batch = parse_batch_size(a.batch_size)
        if a.batch_size is not None and batch is None:
            log.warning("Wrong batch size parameter provided. Model batch size will be set to default.")
        shape = _flag("shape", ShapeOption.parse, a.shape)
        plugin = _flag("plugin_config", parse_plugin_config, a.plugin_config)
        _flag("layout", parse_layout, a.layout)
        if shape is not None and batch is not None:
            log.warning("Both shape and batch size have been defined. Batch size parameter will be ignored.")
            batch = None
        models.append(
            ModelConfig(
                name=a.model_name,
                base_path=os.path.abspath(a.model_path),
                version_policy=policy,
                batch_size=batch,
                shape=shape,
                layout=a.layout,
                nireq=a.nireq,
                target_device=a.target_device,
                plugin_config=plugin,
            )
        )

    cpus = allowed_cpus()
    try:
        if a.worker_cpu_sets:
            sets = parse_cpu_sets(a.worker_cpu_sets)
            if a.worker_processes is not None and a.worker_processes != len(sets):
                raise ValueError("worker_processes differs from the number of worker_cpu_sets")
        else:
            sets = split_evenly(cpus, a.worker_processes if a.worker_processes is not None else default_workers(cpus))
        validate_sets(sets, cpus)
    except ValueError as exc:
        raise UsageError(f"worker CPU plan: {exc}") from exc
    fronts = a.front_processes or a.rest_workers or default_fronts(cpus)
    if fronts < 1:
        raise UsageError("front_processes must be at least 1")

    return Settings(
        rest_port=a.rest_port,
        rest_bind_address=a.rest_bind_address,
        models=models,
        config_path=os.path.abspath(a.config_path) if a.config_path else None,
        log_level=a.log_level,
        log_path=a.log_path,
        file_system_poll_wait_seconds=a.file_system_poll_wait_seconds,
        front_processes=fronts,
        worker_processes=len(sets),
        worker_cpu_sets=sets,
        max_body_bytes=a.max_request_bytes,
        arena_bytes=a.shm_arena_mb * 1024 * 1024,
        request_timeout_s=a.request_timeout_seconds,
        shutdown_grace_s=a.shutdown_grace_seconds,
        max_queue_per_worker=a.max_queue_per_worker,
        intake_bytes=a.max_intake_mb * 1024**2 or intake_per_front(fronts),
        read_timeout_s=a.rest_read_timeout_seconds,
        min_upload_rate=a.rest_min_upload_bytes_per_second,
        keepalive_timeout_s=a.rest_keepalive_timeout_seconds,
        max_connections=a.rest_max_connections,
        max_batch=a.max_batch,
        batch_delay_us=a.batch_delay_us,
        stats_interval_s=a.stats_interval_seconds,
        replicas=a.model_replicas,
        max_json_depth=a.max_json_depth,
        cache_dir=a.cache_dir,
        grpc_port=a.port,
        grpc_bind_address=a.grpc_bind_address,
        grpc_workers=a.grpc_workers if a.port else 0,
        grpc_channel_arguments=channel_arguments,
        grpc_quota_bytes=-(-a.grpc_memory_quota // max(1, a.grpc_workers)),
        metrics_families=metrics_families,
    )


def main(argv: list[str] | None = None) -> int:
    setup_logging(SUPERVISOR_ROLE)
    try:
        settings = settings_from_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EX_USAGE
    if settings is None:
        return 0
    setup_logging(SUPERVISOR_ROLE, settings.log_level, settings.log_path)
    from ovserve.supervisor import Supervisor

    return Supervisor(settings).run()
