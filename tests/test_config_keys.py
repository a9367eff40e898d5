"""config.json keys as OVMS 2026.2 reads them: ``base_path`` optional (the config file's folder),
a per-input ``"auto"`` in a shape map, ``plugin_config`` keys checked against the device's
supported properties, ``allow_cache`` and the model cache folder."""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ovserve import cache_dir
from tests import modelgen
from tests.server_util import Server, write_json


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("keys")
    modelgen.dummy(str(base))  # version 1 in the config file's own folder
    modelgen.two_in_two_out(str(base / "two"))
    models = [
        {"config": {"name": "nobase"}},
        {"config": {"name": "auto_b", "base_path": "two", "shape": {"a": "(1,3)", "b": "auto"}}},
        {"config": {"name": "badplugin", "base_path": str(base), "plugin_config": {"NOT_A_PROPERTY": "1"}}},
    ]
    write_json(str(base / "config.json"), {"model_config_list": models})
    args = [
        "--config_path",
        str(base / "config.json"),
        "--worker_processes",
        "1",
        "--file_system_poll_wait_seconds",
        "0",
    ]
    s = Server(args, str(tmp_path_factory.mktemp("logs") / "keys.log"))
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def test_base_path_is_optional(server: Server) -> None:
    r = requests.post(f"{server.url}/v1/models/nobase:predict", json={"instances": [[1.0] * 10]}, timeout=10)
    assert r.json() == {"predictions": [[2.0] * 10]}


def test_auto_for_one_input_of_a_shape_map(server: Server) -> None:
    meta = requests.get(f"{server.url}/v2/models/auto_b", timeout=10).json()
    assert {t["name"]: t["shape"] for t in meta["inputs"]} == {"a": [1, 3], "b": [-1, -1]}


def test_plugin_config_keys_are_checked(server: Server) -> None:
    status = requests.get(f"{server.url}/v1/models/badplugin", timeout=10).json()
    assert status["model_version_status"][0]["state"] == "LOADING"  # failed: OVMS reports it so
    text = "Plugin config key: NOT_A_PROPERTY not found in supported config keys for device: CPU."
    assert text in server.read_log()
    # the initial loads have settled: ready, although one model failed (a readiness probe passes)
    assert requests.get(f"{server.url}/v2/health/ready", timeout=10).status_code == 200


@pytest.mark.slow
def test_allow_cache(tmp_path: Path) -> None:
    """A model with ``batch_size auto`` leaves no blob in the cache, unless ``allow_cache``."""
    modelgen.dummy(str(tmp_path / "m"), batch=1)
    cache = tmp_path / "cache"
    config = str(tmp_path / "config.json")
    entry = {"name": "m", "base_path": str(tmp_path / "m"), "batch_size": "auto"}
    write_json(config, {"model_config_list": [{"config": entry}]})
    args = ["--config_path", config, "--cache_dir", str(cache), "--worker_processes", "1"]
    with Server(args, str(tmp_path / "cache.log")) as s:
        s.wait_ready()
        assert "Cache directory" in s.read_log() and "did not exist, created" in s.read_log()
        assert f"Model cache is enabled: {cache}" in s.read_log()
        assert glob.glob(str(cache / "*.blob")) == []
        write_json(config, {"model_config_list": [{"config": {**entry, "allow_cache": True}}]})
        assert requests.post(f"{s.url}/v1/config/reload", timeout=60).status_code == 201
        deadline = time.monotonic() + 30
        while not glob.glob(str(cache / "*.blob")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(glob.glob(str(cache / "*.blob"))) == 1


def test_default_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/opt/cache`` is used when it exists and no --cache_dir is given, as OVMS."""
    default = tmp_path / "opt_cache"
    monkeypatch.setattr(cache_dir, "DEFAULT_CACHE_DIR", str(default))
    assert cache_dir.model_cache_dir(None) is None
    default.mkdir()
    assert cache_dir.model_cache_dir(None) == str(default)
    assert cache_dir.model_cache_dir(str(tmp_path / "given")) == str(tmp_path / "given")
    assert os.path.isdir(tmp_path / "given")
