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


def settings(argv: list[str]) -> Settings:
    s = settings_from_args(argv)
    assert isinstance(s, Settings), s
    return s


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
        # OVMS's start lines without a REST port: what needs one says so (src/config.cpp)
        (
            ["--model_name", "m", "--model_path", "/tmp/m", "--port", "9000", "--metrics_enable"],
            "rest_port setting is missing, metrics are enabled on rest port",
        ),
        (
            ["--model_name", "m", "--model_path", "/tmp/m", "--port", "9000", "--metrics_enable=true"],
            "rest_port setting is missing, metrics are enabled on rest port",
        ),
        (
            ["--model_name", "m", "--model_path", "/tmp/m", "--port", "9000", "--rest_workers", "4"],
            "rest_workers is set but rest_port is not set. rest_port is required to start rest servers",
        ),
        (
            ["--model_name", "m", "--model_path", "/tmp/m", "--port", "9000", "--grpc_workers", "0"],
            f"grpc_workers count should be from 1 to CPU core count : {CORES}",
        ),
        ([*BASE, "--grpc_workers", str(CORES + 1)], f"grpc_workers count should be from 1 to CPU core count : {CORES}"),
        ([*BASE, "--mean", "1"], "error parsing options - --mean parameter requires --layout to be set"),
        ([*BASE, "--scale", "1"], "error parsing options - --scale parameter requires --layout to be set"),
        (
            [*BASE, "--color_format", "RGB:BGR"],
            "error parsing options - --color_format parameter requires --layout to be set",
        ),
        (
            [*BASE, "--precision", "u8:fp32"],
            "error parsing options - --precision parameter requires --layout to be set",
        ),
        ([*BASE, "--layout", "NHWC:NCHW", "--mean", "[1,x,3]"], "mean: The provided float is in wrong format"),
        ([*BASE, "--layout", "NHWC:NCHW", "--scale", "[1,,3]"], "scale: The provided float is in wrong format"),
        (
            [*BASE, "--layout", "NHWC", "--color_format", "RGB"],
            "color_format: The provided color format is in wrong format",
        ),
        (
            [*BASE, "--layout", "NHWC", "--color_format", "RGB:YUV"],
            "color_format: The provided color format is in wrong format",
        ),
        (
            [*BASE, "--layout", "NHWC", "--precision", "uint8:f32"],
            "precision: The provided precision is in wrong format",
        ),
        (
            [*BASE, "--cpu_extension", "/nonexistent/libx.so"],
            "File path provided as an --cpu_extension parameter does not exist in the filesystem: /nonexistent/libx.so",
        ),
        ([*BASE, "--no_such_flag", "1"], "error parsing options - unmatched arguments: --no_such_flag, 1, "),
        (
            [*BASE, "--metrics_enable=maybe"],
            "error parsing options: argument --metrics_enable: Argument 'maybe' failed to parse",
        ),
        (["--list_models"], "Use --list_models with --model_repository_path"),
        (
            ["--list_models", "--add_to_config"],
            "error parsing options - --list_models cannot be used with --add_to_config",
        ),
        (
            ["--remove_from_config", "--model_name", "m", "--model_path", "/m", "--config_path", "c.json"],
            "error parsing options - --model_path cannot be used with --remove_from_config",
        ),
        (
            ["--add_to_config", "--model_name", "m", "--model_path", "/m", "--config_path", "c.json", "--nireq", "2"],
            "Adding or removing models from the configuration file, allows passing only model_name and model_path "
            "parameters. Invalid parameters passed: nireq, ",
        ),
        (
            ["--add_to_config", "--model_name", "m", "--model_path", "/m"],
            "Set config_path with add_to_config/remove_from_config",
        ),
    ],
)
def test_flag_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        settings_from_args(argv)
    assert str(info.value) == message


def test_single_model_settings() -> None:
    s = settings(
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
    m = s.models[0]
    assert m.name == "m" and m.version_policy.kind == "all"
    assert m.batch_size == (4, 4) and dict(m.plugin_config) == {"NUM_STREAMS": "1", "X": "YES"}
    assert s.worker_processes == 1 and s.rest_port == 9001


def test_shape_wins_over_batch() -> None:
    s = settings([*BASE, "--shape", "(1,3,200:500,-1)", "--batch_size", "2"])
    assert s.models[0].batch_size is None
    shape = s.models[0].shape
    assert shape is not None and shape.all_inputs == ((1, 1), (3, 3), (200, 500), (0, -1))


def test_cpu_sets() -> None:
    assert parse_cpu_sets("0-2;3,5") == [[0, 1, 2], [3, 5]]
    assert split_evenly([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    with pytest.raises(ValueError):
        split_evenly([0, 1], 3)


def test_grpc_only_and_rest_only() -> None:
    """OVMS's quickstart starts the gRPC port alone: no REST fronts then."""
    grpc_only = settings(["--model_name", "m", "--model_path", "/tmp/m", "--port", "9000"])
    assert (grpc_only.rest_port, grpc_only.front_processes, grpc_only.grpc_port, grpc_only.grpc_workers) == (
        0,
        0,
        9000,
        1,
    )
    rest_only = settings(BASE)
    assert rest_only.front_processes >= 1 and rest_only.grpc_workers == 0
    both = settings([*BASE, "--port", "9000", "--metrics_enable=true", "--rest_workers", "3"])
    assert both.front_processes == 3 and both.metrics_families
    assert settings([*BASE, "--metrics_enable=false"]).metrics_families == ()
    assert settings([*BASE, "--metrics_enable", "1"]).metrics_families


def test_preprocessing_flags() -> None:
    flags = ["--layout", "NHWC:NCHW", "--mean", "[123.675, 116.28,103.53]", "--scale", "( 58.395,57.12,57.375 )"]
    s = settings([*BASE, *flags, "--color_format", "bgr:rgb", "--precision", "uint8:FP32"])
    pre = s.models[0].preprocessing
    assert pre is not None
    assert pre.mean == (123.675, 116.28, 103.53) and pre.scale == (58.395, 57.12, 57.375)
    assert pre.color == ("BGR", "RGB") and pre.precision == ("u8", "f32")  # (model, client) and (client, model)
    one = settings([*BASE, "--layout", "NCHW", "--mean", "1.5E1"]).models[0].preprocessing
    assert one is not None and (one.mean, one.scale, one.color, one.precision) == (15.0, None, None, None)
    assert settings(BASE).models[0].preprocessing is None
    with pytest.raises(UsageError, match="exclusive with the config file"):
        settings_from_args(["--config_path", "c.json", "--rest_port", "1", "--layout", "NHWC", "--mean", "1"])


def test_answered_command_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_from_args([]) == 0  # no arguments: the help, as OVMS
    assert "--model_name" in capsys.readouterr().out
    assert settings_from_args(["--version"]) == 0
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith("ovserve ") and "OpenVINO Model Server" in first
    assert second.startswith("OpenVINO backend 20")


def test_process_exit_code_and_stderr() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ovserve", "--rest_port", "9001"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == EX_USAGE
    assert "Use config_path or model_path with model_name" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "ovserve", "--no_such_flag", "1"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == EX_USAGE and "error parsing options - unmatched arguments: --no_such_flag, 1, " in r.stderr
    r = subprocess.run([sys.executable, "-m", "ovserve"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and "usage: ovserve" in r.stdout


def test_grpc_settings() -> None:
    s = settings([*BASE, "--port", "9002", "--grpc_channel_arguments", "grpc.max_concurrent_streams=7, x.y=z"])
    assert (s.grpc_port, s.grpc_workers) == (9002, 1)
    assert s.grpc_channel_arguments == [
        ["grpc.max_concurrent_streams", max(CORES, 64)],
        ["grpc.http.overload_protection", 0],
        ["grpc.max_concurrent_streams", 7],
        ["x.y", "z"],
    ]
    assert s.grpc_quota_bytes == 2 * 1024**3  # OVMS's default, one gRPC front
    two = settings([*BASE, "--port", "9002", "--grpc_workers", "2", "--grpc_memory_quota", "1001"])
    assert two.grpc_quota_bytes == 501  # shared out, rounded up
    off = settings(BASE)
    assert (off.grpc_port, off.grpc_workers) == (0, 0)


def test_metrics_settings() -> None:
    s = settings([*BASE, "--metrics_enable"])
    assert "ovms_requests_success" in s.metrics_families
    assert "ovms_infer_req_active" not in s.metrics_families  # optional families need metrics_list
    s = settings([*BASE, "--metrics_enable", "--metrics_list", " ovms_infer_req_active ,ovms_streams"])
    assert s.metrics_families == ("ovms_streams", "ovms_infer_req_active")
    s = settings([*BASE, "--metrics_enable", "--metrics_list", "ovms_current_graphs"])
    assert s.metrics_families == ()  # a MediaPipe family: valid, no series here
    assert settings(BASE).metrics_families == ()


def test_metrics_from_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    doc = {"model_config_list": [], "monitoring": {"metrics": {"enable": True, "metrics_list": ["ovms_streams"]}}}
    path.write_text(json.dumps(doc))
    argv = ["--config_path", str(path), "--rest_port", "9001"]
    s = settings(argv)
    assert s.metrics_families == ("ovms_streams",)
    doc["monitoring"] = {"metrics": {"enable": True, "metrics_list": ["nope"]}}
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="Invalid name in metrics_list"):
        settings(argv)
    doc["monitoring"] = {"metrics": {"enable": False}}
    path.write_text(json.dumps(doc))
    s = settings([*argv, "--metrics_enable"])  # the config file's section decides
    assert s.metrics_families == ()


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
