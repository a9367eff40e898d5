"""The command-line flags: OVMS's names and defaults, then ovserve's own process-plan flags.
A parse error is a ``UsageError`` (the CLI prints it and exits 64)."""

from __future__ import annotations

import argparse
from typing import NoReturn

MAX_NIREQ = 100000


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"error parsing options: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ovserve",
        description="OpenVINO model server speaking the OVMS / TensorFlow Serving REST API.",
        allow_abbrev=False,
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    ovms = p.add_argument_group("OVMS options")
    ovms.add_argument("--port", type=int, default=0, help="gRPC port (KServe GRPCInferenceService); 0 disables gRPC")
    ovms.add_argument("--grpc_bind_address", default="0.0.0.0")
    ovms.add_argument("--rest_port", type=int, default=0, help="REST port")
    ovms.add_argument("--rest_bind_address", default="0.0.0.0", help="address to bind REST to")
    ovms.add_argument("--grpc_workers", type=int, default=1, help="gRPC front processes (1..CPU count)")
    ovms.add_argument("--grpc_max_threads", type=int, default=None, help="accepted as OVMS; grpc.aio uses no pool")
    ovms.add_argument("--grpc_channel_arguments", default="", help='gRPC server options, e.g. "k=v,k2=v2"')
    ovms.add_argument(
        "--grpc_memory_quota",
        type=int,
        default=2 * 1024**3,
        help="bytes of request messages the gRPC fronts hold at once (0: no limit)",
    )
    ovms.add_argument("--rest_workers", type=int, default=None, help="number of REST front processes (2..10000)")
    ovms.add_argument("--log_level", default="INFO", help="TRACE, DEBUG, INFO, WARNING or ERROR")
    ovms.add_argument("--log_path", default=None)
    ovms.add_argument("--file_system_poll_wait_seconds", type=int, default=1)
    ovms.add_argument("--cache_dir", default=None)
    ovms.add_argument(
        "--custom_node_resources_cleaner_interval_seconds",
        type=int,
        default=300,
        help="accepted as OVMS; a removed custom node is deinitialized as soon as its last run ends",
    )
    ovms.add_argument("--metrics_enable", action="store_true")
    ovms.add_argument("--metrics_list", default="")
    ovms.add_argument("--config_path", default=None)
    ovms.add_argument("--model_name", default=None)
    ovms.add_argument("--model_path", default=None)
    ovms.add_argument("--batch_size", default=None)
    ovms.add_argument("--shape", default=None)
    ovms.add_argument("--layout", default=None)
    ovms.add_argument("--model_version_policy", default=None)
    ovms.add_argument("--nireq", type=int, default=0)
    ovms.add_argument("--target_device", default="CPU")
    ovms.add_argument("--plugin_config", default=None)
    own = p.add_argument_group("ovserve process plan")
    own.add_argument(
        "--front_processes",
        type=int,
        default=None,
        help="REST front processes (default: --rest_workers, else one per two allowed CPUs, 2 to 16)",
    )
    own.add_argument(
        "--worker_processes",
        type=int,
        default=None,
        help="OpenVINO worker processes (default: one per two allowed CPUs, at least 1)",
    )
    own.add_argument(
        "--worker_cpu_sets",
        default=None,
        help='CPU set of each worker, e.g. "0-3;4-7" (default: the allowance split evenly)',
    )
    own.add_argument(
        "--max_request_bytes",
        type=int,
        default=1024**3,
        help="largest accepted request body (default 1 GiB, as OVMS); larger gets 413",
    )
    own.add_argument(
        "--max_json_depth",
        type=int,
        default=100,
        help="deepest nesting of objects and arrays a predict body may have (default 100, as OVMS); deeper gets 500",
    )
    own.add_argument(
        "--shm_arena_mb", type=int, default=256, help="shared-memory tensor arena of each front, MiB (default 256)"
    )
    own.add_argument(
        "--request_timeout_seconds", type=float, default=60.0, help="deadline of each inference request (default 60)"
    )
    own.add_argument(
        "--shutdown_grace_seconds",
        type=float,
        default=10.0,
        help="on SIGTERM, how long in-flight requests may take to finish (default 10)",
    )
    own.add_argument(
        "--max_batch",
        type=int,
        default=1,
        help="merge queued requests of a dynamic-batch model into inferences of up to this batch (default 1: off)",
    )
    own.add_argument(
        "--batch_delay_us",
        type=int,
        default=0,
        help="how long a worker may wait for more requests when a batch cannot fill (default 0)",
    )
    own.add_argument(
        "--model_replicas",
        type=int,
        default=0,
        help="workers that host each model, spread by load (default 0: every worker hosts every model)",
    )
    own.add_argument(
        "--stats_interval_seconds",
        type=float,
        default=10.0,
        help="how often workers log requests, mean batch, queue and compute time per model (default 10)",
    )
    own.add_argument(
        "--max_queue_per_worker",
        type=int,
        default=512,
        help="requests a front may have in flight to one worker; beyond it: fast 503 (default 512)",
    )
    hostile = p.add_argument_group("ovserve defences of the REST fronts")
    hostile.add_argument(
        "--max_intake_mb",
        type=int,
        default=0,
        help="memory each REST front may commit to request bodies at once, MiB; a body counts its bytes "
        "times its decoding cost (24 for JSON, 3 for KServe binary); beyond it 503, a body needing more "
        "than all of it 413 (default 0: half the memory, shared by the REST fronts)",
    )
    hostile.add_argument(
        "--rest_read_timeout_seconds",
        type=float,
        default=30.0,
        help="time a client has to send a request's head, and its body beyond its upload at "
        "--rest_min_upload_bytes_per_second; later: 408 and the connection closed (default 30)",
    )
    hostile.add_argument(
        "--rest_min_upload_bytes_per_second",
        type=int,
        default=65536,
        help="slowest body upload accepted beyond the read timeout (default 65536)",
    )
    hostile.add_argument(
        "--rest_keepalive_timeout_seconds",
        type=float,
        default=75.0,
        help="idle keep-alive connections are closed after this (default 75; 0: never, as OVMS)",
    )
    hostile.add_argument(
        "--rest_max_connections",
        type=int,
        default=0,
        help="open connections per REST front; beyond it new ones get 503 and are closed "
        "(default 0: the open-files limit, lifted to its hard value, less 256, at most 10000)",
    )
    return p
