"""Every command-line option, once: its flag, type, default, help, group, and the range check
with its error text (OVMS's text where OVMS has one, src/cli_parser.cpp). The parser
(``ovserve.cli_flags``), the range checks and the settings' defaults (``ovserve.settings``,
``shared.child_settings``) all read this table; no other place writes an option's default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OVMS = "OVMS options"
MULTI = "OVMS multi model"
CONFIG_MANAGEMENT = "OVMS config management commands"
SINGLE = "OVMS single model"
TLS = "TLS and access control (OVMS PR #4334's flags; TF Serving's --ssl_config_file)"
PLAN = "ovserve process plan"
DEFENCES = "ovserve defences of the REST fronts"
MAX_NIREQ = 100000
MIB = 1024**2


@dataclass(frozen=True)
class Option:
    flag: str  # the name after "--"
    kind: type  # int, float, str, or bool (``--flag``, ``--flag=true|false``, as cxxopts reads bools)
    default: Any
    help: str
    group: str = OVMS
    valid: Callable[[Any], bool] | None = None  # checked when the value is not None
    error: str = ""  # the usage error when ``valid`` says no


def _port(flag: str) -> Option:
    help_text = "gRPC port; 0: no gRPC" if flag == "port" else "REST port; 0: no REST"
    return Option(
        flag, int, 0, help_text, OVMS, lambda v: 0 <= v <= 65535, f"{flag} number out of range from 0 to 65535"
    )


OPTIONS: tuple[Option, ...] = (
    _port("port"),
    Option("grpc_bind_address", str, "0.0.0.0", "address(es) the gRPC port binds, comma-separated"),
    _port("rest_port"),
    Option("rest_bind_address", str, "0.0.0.0", "address(es) the REST port binds, comma-separated"),
    Option("grpc_workers", int, 1, "gRPC front processes (1..CPU count)"),
    Option(
        "grpc_max_threads",
        int,
        None,
        "accepted as OVMS; grpc.aio uses no pool",
        OVMS,
        lambda v: v >= 1,
        "grpc_max_threads must be positive",
    ),
    Option(
        "grpc_channel_arguments",
        str,
        "",
        "gRPC server options, e.g. k=v,k2=v2, over the defaults grpc.max_concurrent_streams=<CPU count, "
        "at least 64>, grpc.http.overload_protection=0 (no refused streams)",
    ),
    Option(
        "grpc_memory_quota",
        int,
        2 * 1024**3,
        "bytes of request messages the gRPC fronts hold at once (0: no limit)",
        OVMS,
        lambda v: v >= 0,
        "grpc_memory_quota must not be negative",
    ),
    Option(
        "rest_workers",
        int,
        None,
        "number of REST front processes (2..10000)",
        OVMS,
        lambda v: 2 <= v <= 10000,
        "rest_workers count should be from 2 to 10000",
    ),
    Option("log_level", str, "INFO", "TRACE, DEBUG, INFO, WARNING or ERROR"),
    Option("log_path", str, None, "file every process's log lines are appended to (besides stdout)"),
    Option(
        "file_system_poll_wait_seconds",
        int,
        1,
        "how often config.json and the model folders are polled (0: never)",
        OVMS,
        lambda v: v >= 0,
        "file_system_poll_wait_seconds should be a non-negative number",
    ),
    Option("cache_dir", str, None, "OpenVINO's model cache folder (default: /opt/cache when it exists, as OVMS)"),
    Option(
        "custom_node_resources_cleaner_interval_seconds",
        int,
        300,
        "accepted as OVMS; a removed custom node is deinitialized as soon as its last run ends",
        OVMS,
        lambda v: v >= 0,
        "custom_node_resources_cleaner_interval_seconds must not be negative",
    ),
    Option("metrics_enable", bool, False, "serve /metrics on the REST port"),
    Option("metrics_list", str, "", "metric families to serve, comma-separated"),
    Option("cpu_extension", str, "", "shared library of custom CPU operations, loaded into OpenVINO"),
    Option("allow_credentials", bool, False, "CORS: answer Access-Control-Allow-Credentials: true"),
    Option("allowed_origins", str, "*", "CORS: origins allowed to call the API, comma-separated"),
    Option("allowed_methods", str, "*", "CORS: methods allowed, comma-separated"),
    Option("allowed_headers", str, "*", "CORS: request headers allowed, comma-separated"),
    Option("rest_certificate_path", str, None, "PEM certificate (chain) of the REST port: serves HTTPS", TLS),
    Option("rest_key_path", str, None, "PEM private key of --rest_certificate_path", TLS),
    Option("rest_ca_path", str, None, "PEM CA certificates: REST clients must present a certificate they signed", TLS),
    Option("grpc_certificate_path", str, None, "PEM certificate (chain) of the gRPC port: serves TLS", TLS),
    Option("grpc_key_path", str, None, "PEM private key of --grpc_certificate_path", TLS),
    Option("grpc_ca_path", str, None, "PEM CA certificates: gRPC clients must present a certificate they signed", TLS),
    Option(
        "ssl_config_file",
        str,
        None,
        "TF Serving's SSLConfig in text format (server_key, server_cert, custom_ca, client_verify) for the gRPC port",
        TLS,
    ),
    Option(
        "api_key_file",
        str,
        "",
        "file whose first line is the API key clients must send as 'Authorization: Bearer <key>' "
        "(default: the API_KEY environment variable; neither: no key)",
        TLS,
    ),
    Option(
        "api_key_apis",
        str,
        "inference,metadata,config,metrics",
        "the API groups the key guards, comma-separated (health endpoints are always open)",
        TLS,
    ),
    Option("config_path", str, None, "config.json (config mode)", MULTI),
    Option("list_models", bool, False, "print the servables in --model_repository_path and exit", CONFIG_MANAGEMENT),
    Option(
        "add_to_config",
        bool,
        False,
        "add --model_name (at --model_path, or in --model_repository_path) to --config_path and exit",
        CONFIG_MANAGEMENT,
    ),
    Option("remove_from_config", bool, False, "remove --model_name from --config_path and exit", CONFIG_MANAGEMENT),
    Option(
        "model_repository_path",
        str,
        None,
        "folder of models (default: $OVMS_MODEL_REPOSITORY_PATH)",
        CONFIG_MANAGEMENT,
    ),
    Option("model_name", str, None, "the model's name", SINGLE),
    Option("model_path", str, None, "the model's folder of version folders", SINGLE),
    Option("batch_size", str, None, "the model's batch size", SINGLE),
    Option("shape", str, None, "the model's input shapes", SINGLE),
    Option("layout", str, None, "the model's input layouts", SINGLE),
    Option(
        "mean", str, None, 'subtracted from the input, e.g. 127.5 or "[123.675,116.28,103.53]" (needs --layout)', SINGLE
    ),
    Option("scale", str, None, "the input is divided by it, as --mean (needs --layout)", SINGLE),
    Option("color_format", str, None, "MODEL:CLIENT colour format, e.g. RGB:BGR (needs --layout)", SINGLE),
    Option("precision", str, None, "CLIENT:MODEL element type, e.g. uint8:fp32 (needs --layout)", SINGLE),
    Option("model_version_policy", str, None, 'which versions to serve, e.g. {"latest": {"num_versions": 2}}', SINGLE),
    Option(
        "nireq",
        int,
        0,
        "the model's infer request pool size",
        SINGLE,
        lambda v: 0 <= v <= MAX_NIREQ,
        "Nireq parameter too high - Exceeded allowed nireq value",
    ),
    Option("target_device", str, "CPU", "the model's OpenVINO device", SINGLE),
    Option("plugin_config", str, None, "the model's OpenVINO properties, as JSON", SINGLE),
    Option(
        "front_processes",
        int,
        None,
        "REST front processes (default: --rest_workers, else one per two allowed CPUs, 2 to 16)",
        PLAN,
        lambda v: v >= 1,
        "front_processes must be at least 1",
    ),
    Option(
        "worker_processes",
        int,
        None,
        "OpenVINO worker processes (default: one per two allowed CPUs, at least 1)",
        PLAN,
    ),
    Option(
        "worker_cpu_sets",
        str,
        None,
        'CPU set of each worker, e.g. "0-3;4-7" (default: the allowance split evenly)',
        PLAN,
    ),
    Option(
        "max_request_bytes",
        int,
        1024**3,
        "largest accepted request body (default 1 GiB, as OVMS); larger gets 413",
        PLAN,
        lambda v: v >= 1,
        "max_request_bytes must be positive",
    ),
    Option(
        "max_json_depth",
        int,
        100,
        "deepest nesting of objects and arrays a predict body may have (default 100, as OVMS); deeper gets 500",
        PLAN,
        lambda v: v >= 2,
        "max_json_depth must be at least 2",
    ),
    Option(
        "shm_arena_mb",
        int,
        256,
        "shared-memory tensor arena of each front, MiB (default %(default)s)",
        PLAN,
        lambda v: v >= 1,
        "shm_arena_mb must be positive",
    ),
    Option(
        "request_timeout_seconds",
        float,
        60.0,
        "deadline of each inference request (default %(default)s)",
        PLAN,
        lambda v: v > 0,
        "request_timeout_seconds must be positive",
    ),
    Option(
        "shutdown_grace_seconds",
        float,
        10.0,
        "on SIGTERM, how long in-flight requests may take to finish (default %(default)s)",
        PLAN,
        lambda v: v >= 0,
        "shutdown_grace_seconds must not be negative",
    ),
    Option(
        "max_batch",
        int,
        1,
        "merge queued requests of a dynamic-batch model into inferences of up to this batch (default 1: off)",
        PLAN,
        lambda v: v >= 1,
        "max_batch must be at least 1 and batch_delay_us not negative",
    ),
    Option(
        "batch_delay_us",
        int,
        0,
        "how long a worker may wait for more requests when a batch cannot fill (default %(default)s)",
        PLAN,
        lambda v: v >= 0,
        "max_batch must be at least 1 and batch_delay_us not negative",
    ),
    Option(
        "model_replicas",
        int,
        0,
        "workers that host each model, spread by load (default 0: every worker hosts every model)",
        PLAN,
        lambda v: v >= 0,
        "model_replicas must not be negative",
    ),
    Option(
        "stats_interval_seconds",
        float,
        10.0,
        "how often workers log requests, mean batch, queue and compute time per model (default %(default)s)",
        PLAN,
    ),
    Option(
        "max_queue_per_worker",
        int,
        512,
        "requests a front may have in flight to one worker; beyond it: fast 503 (default %(default)s)",
        PLAN,
        lambda v: v >= 1,
        "max_queue_per_worker must be at least 1",
    ),
    Option(
        "max_intake_mb",
        int,
        0,
        "memory each REST front may commit to request bodies at once, MiB; a body counts its bytes times its "
        "decoding cost (24 for JSON, 3 for KServe binary); beyond it 503, a body needing more than all of it 413 "
        "(default 0: half the memory, shared by the REST fronts)",
        DEFENCES,
        lambda v: v >= 0,
        "max_intake_mb must not be negative",
    ),
    Option(
        "rest_read_timeout_seconds",
        float,
        30.0,
        "time a client has to send a request's head, and its body beyond its upload at "
        "--rest_min_upload_bytes_per_second; later: 408 and the connection closed (default %(default)s)",
        DEFENCES,
        lambda v: v > 0,
        "rest_read_timeout_seconds must be positive",
    ),
    Option(
        "rest_min_upload_bytes_per_second",
        int,
        65536,
        "slowest body upload accepted beyond the read timeout (default %(default)s)",
        DEFENCES,
        lambda v: v >= 1,
        "rest_min_upload_bytes_per_second must be positive",
    ),
    Option(
        "rest_keepalive_timeout_seconds",
        float,
        75.0,
        "idle keep-alive connections are closed after this (default 75; 0: never, as OVMS)",
        DEFENCES,
        lambda v: v >= 0,
        "rest_keepalive_timeout_seconds must not be negative",
    ),
    Option(
        "rest_max_connections",
        int,
        0,
        "open connections per REST front; beyond it new ones get 503 and are closed "
        "(default 0: the open-files limit, lifted to its hard value, less 256, at most 10000)",
        DEFENCES,
        lambda v: v >= 0,
        "rest_max_connections must not be negative",
    ),
)
BY_FLAG: dict[str, Option] = {o.flag: o for o in OPTIONS}


def default(flag: str) -> Any:
    """The option's default: what a setting built from it starts as."""
    return BY_FLAG[flag].default
