"""The typed settings a child process gets: built from the server's settings by field name,
one JSON argument, decoded to the same object; unknown fields are refused."""

import pytest
from ovserve.shared.child_settings import FrontSettings, WorkerSettings

from ovserve.settings import Settings


def test_built_from_the_server_settings_and_round_trip() -> None:
    server = Settings(
        rest_port=1, max_batch=8, cache_dir="/cache", max_json_depth=7, log_level="TRACE", log_path="/l.log"
    )
    worker = WorkerSettings.build(server, index=2, cpus=(0, 1), run_dir="/run", supervisor_pid=9)
    assert (worker.max_batch, worker.cache_dir, worker.cpus, worker.log_level) == (8, "/cache", (0, 1), "TRACE")
    assert worker.log_path == "/l.log"
    front = FrontSettings.build(
        server, index=0, listen_fds=(5, 6), single_model=False, run_dir="/run", supervisor_pid=9
    )
    assert front.max_json_depth == 7 and front.arena_bytes == server.arena_bytes
    assert WorkerSettings.from_arg(worker.to_arg()) == worker
    assert FrontSettings.from_arg(front.to_arg()) == front


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown FrontSettings fields"):
        FrontSettings.from_arg('{"index": 0, "run_dir": "r", "supervisor_pid": 1, "cpus": [0]}')
