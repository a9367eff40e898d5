"""Session-scoped servers shared by the integration tests (one start each, not one per test)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests import modelgen
from tests.server_util import Server

TYPED = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f16", "f64", "boolean"]


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model repository with every model the tests use, generated with OpenVINO's API."""
    base = str(tmp_path_factory.mktemp("models"))
    modelgen.dummy(os.path.join(base, "dummy"))
    modelgen.dummy(os.path.join(base, "versioned"), version=1, add=1.0)
    modelgen.dummy(os.path.join(base, "versioned"), version=2, add=2.0)
    os.makedirs(os.path.join(base, "versioned", "3"))  # a version without model files: fails to load
    modelgen.dummy(os.path.join(base, "dyn"), batch=None)
    modelgen.two_in_two_out(os.path.join(base, "two"))
    modelgen.scalar(os.path.join(base, "scalar"))
    for t in TYPED:
        modelgen.typed(os.path.join(base, f"t_{t}"), t)
    os.makedirs(os.path.join(base, "empty"))
    return base


@pytest.fixture(scope="session")
def config_server(repo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server in config mode hosting every test model, REST and gRPC."""
    models: list[dict[str, Any]] = [
        {"config": {"name": n, "base_path": n}} for n in ["dummy", "dyn", "two", "scalar", "empty"]
    ]
    models.append({"config": {"name": "versioned", "base_path": "versioned", "model_version_policy": {"all": {}}}})
    models += [{"config": {"name": f"t_{t}", "base_path": f"t_{t}"}} for t in TYPED]
    config = os.path.join(repo, "config.json")
    with open(config, "w") as f:
        json.dump({"model_config_list": models}, f)
    log = str(tmp_path_factory.mktemp("logs") / "config_server.log")
    server = Server(["--config_path", config, "--file_system_poll_wait_seconds", "0"], log, grpc=True)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def single_server(repo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server in single-model mode, started with OVMS's flags."""
    log = str(tmp_path_factory.mktemp("logs") / "single_server.log")
    server = Server(["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy")], log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model that takes ~50 ms per inference on one CPU in f32 (overload, deadline, drain tests)."""
    base = str(tmp_path_factory.mktemp("slow") / "slow")
    modelgen.slow(base, layers=40)
    return base
