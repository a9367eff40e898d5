"""Command line: the options (``shared.options``, parsed by ``cli_flags``) validated with OVMS's
texts into ``Settings``, one job per function: the serving mode, the ports, gRPC, logging, the
single model, the process plan.

Errors are reported as OVMS reports them: the message on stderr and exit status 64 (EX_USAGE).
Ports as OVMS: gRPC only (``--port``), REST only (``--rest_port``) or both.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, NamedTuple

from ovserve import __version__, config_commands
from ovserve.cli_flags import UsageError, build_parser, check_ranges, parse
from ovserve.cpuplan import allowed_cpus, parse_cpu_sets, split_evenly, validate_sets
from ovserve.grpc_options import parse_channel_arguments
from ovserve.memory_plan import intake_per_front
from ovserve.metrics_config import metric_families
from ovserve.settings import Settings
from ovserve.shared.access import GROUPS, ApiKeyError, parse_groups, read_key
from ovserve.shared.cors import Cors
from ovserve.shared.logsetup import LEVELS, SUPERVISOR_ROLE, setup_logging
from ovserve.shared.metrics_layout import MetricsConfigError
from ovserve.shared.model_config import ModelConfig, OptionError, build_model_config
from ovserve.shared.openvino_quiet import keep_openvino_quiet
from ovserve.shared.options import MIB, default
from ovserve.shared.preprocessing import PREPROCESSING_FLAGS
from ovserve.tls_check import tls_plan

EX_USAGE = 64
log = logging.getLogger("ovserve")
# the per-model flags of single-model mode: config.json's keys of the same names
MODEL_FLAGS = (
    "batch_size",
    "shape",
    "layout",
    "model_version_policy",
    "nireq",
    "target_device",
    "plugin_config",
    *PREPROCESSING_FLAGS,
)


def default_workers(cpus: list[int]) -> int:
    """One worker per two CPUs: measured on 2 CPUs, one worker (2 threads) serves the tiny
    model 14% faster than two pinned single-CPU workers, and the CNN as fast."""
    return max(1, len(cpus) // 2)


def default_fronts(cpus: list[int]) -> int:
    """JSON decoding is the other half of the work: one front per two CPUs, at least 2."""
    return min(16, max(2, len(cpus) // 2))


def _model_flags_given(a: argparse.Namespace) -> bool:
    return any(getattr(a, flag) != default(flag) for flag in MODEL_FLAGS)


def check_preprocessing(a: argparse.Namespace) -> None:
    for flag in PREPROCESSING_FLAGS:
        if getattr(a, flag) is not None and not a.layout:
            raise UsageError(f"error parsing options - --{flag} parameter requires --layout to be set")


def check_mode(a: argparse.Namespace) -> None:
    """Config mode or single-model mode, never both, as OVMS."""
    if a.config_path and (a.model_name or a.model_path):
        raise UsageError("Use either config_path or model_path with model_name")
    if a.config_path and _model_flags_given(a):
        raise UsageError("Model parameters in CLI are exclusive with the config file")
    if not a.config_path and not (a.model_name and a.model_path):
        raise UsageError("Use config_path or model_path with model_name")


def check_ports(a: argparse.Namespace) -> None:
    """gRPC only, REST only or both, as OVMS (src/config.cpp); what needs the REST port says so."""
    if a.metrics_enable and not a.rest_port:
        raise UsageError("rest_port setting is missing, metrics are enabled on rest port")
    if not a.rest_port and not a.port:
        raise UsageError("port and rest_port cannot both be unset")
    if a.rest_workers is not None and not a.rest_port:
        raise UsageError("rest_workers is set but rest_port is not set. rest_port is required to start rest servers")
    if a.front_processes is not None and not a.rest_port:
        raise UsageError("front_processes is set but rest_port is not set. rest_port is required to start rest servers")
    if a.port and a.port == a.rest_port:
        raise UsageError("port and rest_port cannot have the same values")


class GrpcPlan(NamedTuple):
    workers: int  # gRPC front processes; 0: no gRPC port
    channel_arguments: list[list[Any]]
    quota_bytes: int  # each front's share of --grpc_memory_quota


def grpc_plan(a: argparse.Namespace, cores: int) -> GrpcPlan:
    try:
        channel_arguments = parse_channel_arguments(a.grpc_channel_arguments, cores)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 1 <= a.grpc_workers <= cores:  # checked without --port too, as OVMS
        raise UsageError(f"grpc_workers count should be from 1 to CPU core count : {cores}")
    quota = -(-a.grpc_memory_quota // max(1, a.grpc_workers))
    return GrpcPlan(a.grpc_workers if a.port else 0, channel_arguments, quota)


def check_logging(a: argparse.Namespace) -> None:
    if a.log_path:
        try:
            with open(a.log_path, "a"):
                pass
        except OSError as exc:
            raise UsageError(f"log_path: cannot write {a.log_path}: {exc.strerror}") from None
    if a.log_level not in LEVELS:
        raise UsageError("log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR")


def single_model(a: argparse.Namespace) -> list[ModelConfig]:
    """The model of single-model mode, built by the builder config.json's entries use."""
    if not a.model_name:
        return []
    entry = {flag: getattr(a, flag) for flag in MODEL_FLAGS if getattr(a, flag) is not None}
    try:
        return [build_model_config(a.model_name, os.path.abspath(a.model_path), entry)]
    except OptionError as exc:
        text = str(exc)
        raise UsageError(text if text.startswith(exc.key) else f"{exc.key}: {text}") from None


def process_plan(a: argparse.Namespace, cpus: list[int]) -> tuple[list[list[int]], int]:
    """The workers' CPU sets and the number of REST fronts (none without a REST port)."""
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
    if not a.rest_port:
        return sets, 0
    return sets, a.front_processes or a.rest_workers or default_fronts(cpus)


def check_cpu_extension(a: argparse.Namespace) -> None:
    if a.cpu_extension and not os.path.exists(a.cpu_extension):
        raise UsageError(
            "File path provided as an --cpu_extension parameter does not exist in the filesystem: " + a.cpu_extension
        )


DISABLED = "Authentication will be disabled."  # OVMS's start line, continued


def api_key_plan(a: argparse.Namespace) -> tuple[str, ...]:
    """The groups a key guards; empty when there is no key (the key itself is read again by the
    fronts, never carried in the settings)."""
    try:
        key = read_key(a.api_key_file)
        groups = parse_groups(a.api_key_apis)
    except ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    if not key:
        log.info(
            "API key not provided via --api_key_file or API_KEY environment variable. Authentication will be disabled."
        )
        return ()
    return tuple(g for g in GROUPS if g in groups)


def version_text() -> str:
    """OVMS's layout (its name and version, then the backend's): what answers, and on what."""
    keep_openvino_quiet()
    import openvino

    return f"ovserve {__version__} (OpenVINO Model Server 2026.2 APIs)\nOpenVINO backend {openvino.get_version()}"


def settings_from_args(argv: list[str]) -> Settings | int:
    """Parse and validate into the server's settings; an int is the exit status of a command
    line that was answered instead (help, version, a config management command)."""
    if not argv:  # as OVMS: no arguments at all print the help
        print(build_parser().format_help())
        return 0
    a = parse(argv)
    config_commands.check_combinations(a)
    if a.version:
        print(version_text())
        return 0
    check_preprocessing(a)
    if a.list_models or a.add_to_config or a.remove_from_config:
        return config_commands.run(a)
    check_mode(a)
    check_ranges(a)
    check_ports(a)
    rest_tls, grpc_tls = tls_plan(a)
    api_key_apis = api_key_plan(a)
    cpus = allowed_cpus()
    grpc = grpc_plan(a, len(cpus))
    check_cpu_extension(a)
    check_logging(a)
    try:
        metrics_families = metric_families(a.metrics_enable, a.metrics_list, a.config_path)
    except MetricsConfigError as exc:
        raise UsageError(str(exc)) from None
    models = single_model(a)
    sets, fronts = process_plan(a, cpus)
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
        arena_bytes=a.shm_arena_mb * MIB,
        request_timeout_s=a.request_timeout_seconds,
        shutdown_grace_s=a.shutdown_grace_seconds,
        max_queue_per_worker=a.max_queue_per_worker,
        intake_bytes=a.max_intake_mb * MIB or intake_per_front(max(1, fronts)),
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
        cpu_extension=os.path.abspath(a.cpu_extension) if a.cpu_extension else "",
        cors=Cors(a.allowed_origins, a.allowed_methods, a.allowed_headers, a.allow_credentials),
        rest_tls=rest_tls,
        grpc_tls=grpc_tls,
        api_key_file=os.path.abspath(a.api_key_file) if a.api_key_file else "",
        api_key_apis=api_key_apis,
        grpc_port=a.port,
        grpc_bind_address=a.grpc_bind_address,
        grpc_workers=grpc.workers,
        grpc_channel_arguments=grpc.channel_arguments,
        grpc_quota_bytes=grpc.quota_bytes,
        metrics_families=metrics_families,
    )


def main(argv: list[str] | None = None) -> int:
    setup_logging(SUPERVISOR_ROLE)
    try:
        settings = settings_from_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EX_USAGE
    if isinstance(settings, int):
        return settings
    setup_logging(SUPERVISOR_ROLE, settings.log_level, settings.log_path)
    from ovserve.supervisor import Supervisor

    return Supervisor(settings).run()
