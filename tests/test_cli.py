import json
import subprocess
import sys
from pathlib import Path

import pytest
from ovserve.shared.child_settings import FrontSettings, WorkerSettings
from ovserve.shared.options import MIB, OPTIONS, default

from ovserve.cli import EX_USAGE, UsageError, settings_from_args
from ovserve.cli_flags import build_parser
from ovserve.cpuplan import allowed_cpus, parse_cpu_sets, split_evenly
from ovserve.settings import Settings
from tests.server_util import ROOT

BASE = ["--model_name", "m", "--model_path", "/tmp/m", "--rest_port", "9001"]
CORES = len(allowed_cpus())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rest_port", "9001"], "Use config_path or model_path with model_name"),
        (["--model_name", "m", "--rest_port", "9001"], "Use config_path or model_path with model_name"),
        (["--config_path", "c.json", *BASE], "Use either config_path or model_path with model_name"),
        (
            ["--config_path", "c.json", "--rest_port", "9001", "--nireq", "2"],
            "Model parameters in CLI are exclusive with the config file",
        ),
        ([*BASE, "--port", "9001"], "port and rest_port cannot have the same values"),
        (["--model_name", "m", "--model_path", "/tmp/m"], "port and rest_port cannot both be unset"),
        ([*BASE, "--rest_workers", "1"], "rest_workers count should be from 2 to 10000"),
        ([*BASE, "--log_level", "LOUD"], "log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR"),
        ([*BASE, "--nireq", "100001"], "Nireq parameter too high - Exceeded allowed nireq value"),
        ([*BASE, "--worker_cpu_sets", "0;0"], "worker CPU plan: CPU 0 is in more than one worker set"),
        (
            [*BASE, "--port", "9002", "--grpc_workers", "0"],
            f"grpc_workers count should be from 1 to CPU core count : {CORES}",
        ),
        (
            [*BASE, "--port", "9002", "--grpc_channel_arguments", "a=1,b"],
            "grpc_channel_arguments has a wrong format: 'b' (expected key=value)",
        ),
        ([*BASE, "--grpc_memory_quota", "-1"], "grpc_memory_quota must not be negative"),
        (
            [*BASE, "--plugin_config", "{bad"],
            "plugin_config: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            [*BASE, "--log_path", "/nonexistent/dir/x.log"],
            "log_path: cannot write /nonexistent/dir/x.log: No such file or directory",
        ),
        ([*BASE, "--layout", "NH-WC"], "layout 'NH-WC' is not a layout such as NHWC or NHWC:NCHW"),
        (
            [*BASE, "--custom_node_resources_cleaner_interval_seconds", "-1"],
            "custom_node_resources_cleaner_interval_seconds must not be negative",
        ),
        ([*BASE, "--layout", '{"in": 3}'], "layout 3 (for in) is not a layout such as NHWC or NHWC:NCHW"),
        (
            [*BASE, "--metrics_list", "ovms_streams"],
            "metrics_enable setting is missing, required when metrics_list is provided",
        ),
        (
            [*BASE, "--metrics_enable", "--metrics_list", "ovms_streams, ovms_bogus"],
            "Invalid name in metrics_list: Metrics family name not supported: ovms_bogus",
        ),
    ],
)
def test_flag_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        settings_from_args(argv)
    assert str(info.value) == message


def test_single_model_settings() -> None:
    s = settings_from_args(
        [
            *BASE,
            "--model_version_policy",
            '{"all": {}}',
            "--batch_size",
            "4",
            "--plugin_config",
            '{"NUM_STREAMS": 1, "X": true}',
            "--worker_processes",
            "1",
        ]
    )
    assert s is not None
    m = s.models[0]
    assert m.name == "m" and m.version_policy.kind == "all"
    assert m.batch_size == (4, 4) and dict(m.plugin_config) == {"NUM_STREAMS": "1", "X": "YES"}
    assert s.worker_processes == 1 and s.rest_port == 9001


def test_shape_wins_over_batch() -> None:
    s = settings_from_args([*BASE, "--shape", "(1,3,200:500,-1)", "--batch_size", "2"])
    assert s is not None
    assert s.models[0].batch_size is None
    shape = s.models[0].shape
    assert shape is not None and shape.all_inputs == ((1, 1), (3, 3), (200, 500), (0, -1))


def test_cpu_sets() -> None:
    assert parse_cpu_sets("0-2;3,5") == [[0, 1, 2], [3, 5]]
    assert split_evenly([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    with pytest.raises(ValueError):
        split_evenly([0, 1], 3)


def test_process_exit_code_and_stderr() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ovserve", "--rest_port", "9001"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == EX_USAGE
    assert "Use config_path or model_path with model_name" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "ovserve", "--no_such_flag", "1"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == EX_USAGE and "error parsing options" in r.stderr


def test_grpc_settings() -> None:
    s = settings_from_args(
        [*BASE, "--port", "9002", "--grpc_channel_arguments", "grpc.max_concurrent_streams=7, x.y=z"]
    )
    assert s is not None and (s.grpc_port, s.grpc_workers) == (9002, 1)
    assert s.grpc_channel_arguments == [
        ["grpc.max_concurrent_streams", CORES],
        ["grpc.max_concurrent_streams", 7],
        ["x.y", "z"],
    ]
    assert s.grpc_quota_bytes == 2 * 1024**3  # OVMS's default, one gRPC front
    two = settings_from_args([*BASE, "--port", "9002", "--grpc_workers", "2", "--grpc_memory_quota", "1001"])
    assert two is not None and two.grpc_quota_bytes == 501  # shared out, rounded up
    off = settings_from_args(BASE)
    assert off is not None and (off.grpc_port, off.grpc_workers) == (0, 0)


def test_metrics_settings() -> None:
    s = settings_from_args([*BASE, "--metrics_enable"])
    assert s is not None and "ovms_requests_success" in s.metrics_families
    assert "ovms_infer_req_active" not in s.metrics_families  # optional families need metrics_list
    s = settings_from_args([*BASE, "--metrics_enable", "--metrics_list", " ovms_infer_req_active ,ovms_streams"])
    assert s is not None and s.metrics_families == ("ovms_streams", "ovms_infer_req_active")
    s = settings_from_args([*BASE, "--metrics_enable", "--metrics_list", "ovms_current_graphs"])
    assert s is not None and s.metrics_families == ()  # a MediaPipe family: valid, no series here
    assert settings_from_args(BASE).metrics_families == ()  # type: ignore[union-attr]


def test_metrics_from_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    doc = {"model_config_list": [], "monitoring": {"metrics": {"enable": True, "metrics_list": ["ovms_streams"]}}}
    path.write_text(json.dumps(doc))
    argv = ["--config_path", str(path), "--rest_port", "9001"]
    s = settings_from_args(argv)
    assert s is not None and s.metrics_families == ("ovms_streams",)
    doc["monitoring"] = {"metrics": {"enable": True, "metrics_list": ["nope"]}}
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="Invalid name in metrics_list"):
        settings_from_args(argv)
    doc["monitoring"] = {"metrics": {"enable": False}}
    path.write_text(json.dumps(doc))
    s = settings_from_args([*argv, "--metrics_enable"])  # the config file's section decides
    assert s is not None and s.metrics_families == ()


def test_one_definition_per_option() -> None:
    """The parser, the range checks and the settings' defaults all come from the option table."""
    parsed = vars(build_parser().parse_args([]))
    assert {o.flag for o in OPTIONS} | {"version"} == set(parsed)
    assert all(parsed[o.flag] == o.default for o in OPTIONS)
    same = {  # setting field -> (option, unit)
        "max_body_bytes": ("max_request_bytes", 1),
        "arena_bytes": ("shm_arena_mb", MIB),
        "request_timeout_s": ("request_timeout_seconds", 1),
        "read_timeout_s": ("rest_read_timeout_seconds", 1),
        "min_upload_rate": ("rest_min_upload_bytes_per_second", 1),
        "keepalive_timeout_s": ("rest_keepalive_timeout_seconds", 1),
        "max_queue_per_worker": ("max_queue_per_worker", 1),
        "max_json_depth": ("max_json_depth", 1),
    }
    server, front = Settings(rest_port=1), FrontSettings(index=0, run_dir="/r", supervisor_pid=1)
    for field, (flag, unit) in same.items():
        assert getattr(server, field) == getattr(front, field) == default(flag) * unit, field
    worker = WorkerSettings(index=0, run_dir="/r", supervisor_pid=1)
    assert (worker.max_batch, worker.stats_interval_s) == (default("max_batch"), default("stats_interval_seconds"))
    for option in OPTIONS:  # every check's text names its flag (OVMS's nireq text capitalises it)
        if option.valid is not None:
            assert option.flag in option.error or option.error.startswith("Nireq"), option.flag
