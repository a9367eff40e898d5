"""OpenVINO extensions as OVMS loads them: OpenVINO Tokenizers' operations in every worker (a
string model with tokenizer operations is served), and ``--cpu_extension`` checked at start."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import modelgen
from tests.debian_tools import debian_tool
from tests.server_util import ROOT, Server, free_port

SOURCE = os.path.join(os.path.dirname(__file__), "custom_ops", "add_one.cpp")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = str(tmp_path_factory.mktemp("tok") / "casefold")
    modelgen.casefold(base)
    args = ["--model_name", "casefold", "--model_path", base, "--worker_processes", "1"]
    s = Server(args, str(tmp_path_factory.mktemp("logs") / "tokenizers.log"))
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def test_tokenizer_operations_are_served(server: Server) -> None:
    body = {"instances": ["HeLLo World", "ÀB"]}
    r = requests.post(f"{server.url}/v1/models/casefold:predict", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": ["hello world", "àb"]}
    v2: dict[str, Any] = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["ABC"]}]}
    r = requests.post(f"{server.url}/v2/models/casefold/infer", json=v2, timeout=30)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == ["abc"]


def start(*extra: str) -> subprocess.CompletedProcess[str]:
    """A start that is expected to fail (the last ``--model_path`` given wins)."""
    argv = [sys.executable, "-m", "ovserve", "--model_name", "m", "--model_path", "/nonexistent"]
    argv += ["--rest_port", str(free_port()), "--rest_bind_address", "127.0.0.1"]
    return subprocess.run([*argv, *extra], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_cpu_extension_missing_file() -> None:
    r = start("--cpu_extension", "/nonexistent/libcustom.so")
    assert r.returncode == 64
    assert r.stderr.strip() == (
        "File path provided as an --cpu_extension parameter does not exist in the filesystem: /nonexistent/libcustom.so"
    )


def test_cpu_extension_that_does_not_load(tmp_path: Path) -> None:
    library = tmp_path / "libnot_an_extension.so"
    library.write_bytes(b"\x7fELF not really")
    r = start("--cpu_extension", str(library))
    assert r.returncode == 1
    assert "Custom CPU extension loading has failed! Reason: " in r.stdout + r.stderr


@pytest.fixture(scope="module")
def add_one_library(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/custom_ops/add_one.cpp built against the installed OpenVINO's headers and library."""
    import openvino

    home = os.path.dirname(openvino.__file__)
    library = glob.glob(os.path.join(home, "libs", "libopenvino.so.*"))
    assert library, "the OpenVINO wheel has no libopenvino.so"
    out = str(tmp_path_factory.mktemp("custom_ops") / "libadd_one.so")
    cxx = debian_tool("g++", "g++")
    flags = ["-std=c++17", "-O1", "-shared", "-fPIC", "-I", os.path.join(home, "include")]
    subprocess.run([cxx, *flags, "-o", out, SOURCE, library[0]], check=True, timeout=300)
    return out


@pytest.mark.slow
def test_cpu_extension_serves_its_operation(add_one_library: str, tmp_path: Path) -> None:
    base = str(tmp_path / "add_one")
    modelgen.add_one_op(base)
    args = ["--model_name", "add_one", "--model_path", base, "--worker_processes", "1", "--port", "0"]
    with Server([*args, "--cpu_extension", add_one_library], os.path.join(str(tmp_path), "ext.log")) as s:
        s.wait_ready()
        r = requests.post(f"{s.url}/v1/models/add_one:predict", json={"instances": [list(range(10))]}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [[float(i + 1) for i in range(10)]]}
    without = start("--model_path", base)  # the same model without the library cannot load
    assert without.returncode == 1 and "cannot be served" in without.stdout + without.stderr
