"""OVMS's config management commands, run as a user runs them: the real ``ovserve`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import modelgen
from tests.server_util import ROOT


def ovserve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ovserve", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_list_models(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    modelgen.dummy(str(repo / "dummy"))
    modelgen.onnx_dummy(str(repo / "group" / "onnx" / "3" / "model.onnx"))
    (repo / "graph").mkdir()
    (repo / "graph" / "graph.pbtxt").write_text("")
    (repo / "zero" / "01").mkdir(parents=True)  # a leading zero: not a version folder
    (repo / "zero" / "01" / "model.onnx").write_text("")
    (repo / "nofiles" / "1").mkdir(parents=True)
    r = ovserve("--list_models", "--model_repository_path", str(repo))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["Listing models in repository...", f"Model repository path: {repo}"]
    assert sorted(lines[2:]) == ["dummy", "graph", "group/onnx"]
    by_env = ovserve("--list_models", env={"OVMS_MODEL_REPOSITORY_PATH": str(repo)})
    assert by_env.returncode == 0 and sorted(by_env.stdout.splitlines()[2:]) == ["dummy", "graph", "group/onnx"]


def test_add_and_remove(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    r = ovserve("--add_to_config", "--config_path", str(config), "--model_name", "a", "--model_path", "/models/a")
    assert r.returncode == 0 and r.stdout.strip() == f"Config updated: {config}"
    r = ovserve(
        "--add_to_config=true", "--config_path", str(config), "--model_name", "b", "--model_repository_path", "/r"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(config.read_text())
    assert doc == {
        "model_config_list": [
            {"config": {"name": "a", "base_path": "/models/a"}},
            {"config": {"name": "b", "base_path": "/r/b"}},
        ]
    }
    again = ovserve("--add_to_config", "--config_path", str(config), "--model_name", "a", "--model_path", "/x")
    assert again.returncode == 1
    assert again.stdout.strip() == f"{config} error on config update : Given model name is already occupied"
    r = ovserve("--remove_from_config", "--config_path", str(config), "--model_name", "a")
    assert r.returncode == 0 and json.loads(config.read_text())["model_config_list"] == doc["model_config_list"][1:]
    gone = ovserve("--remove_from_config", "--config_path", str(config), "--model_name", "a")
    assert gone.returncode == 1 and gone.stdout.strip().endswith("Model with requested name is not found")
    missing = ovserve("--remove_from_config", "--config_path", str(tmp_path / "none.json"), "--model_name", "a")
    assert missing.returncode == 1
    default = ovserve("--add_to_config", "--model_name", "c", env={"OVMS_MODEL_REPOSITORY_PATH": str(tmp_path)})
    assert default.returncode == 0, default.stdout + default.stderr
    assert default.stdout.splitlines()[0] == f"Using default config path: {tmp_path}/config.json"
    names = [e["config"]["name"] for e in json.loads(config.read_text())["model_config_list"]]
    assert names == ["b", "c"]
