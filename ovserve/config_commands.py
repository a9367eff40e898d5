"""OVMS's config management commands (``--list_models``, ``--add_to_config``,
``--remove_from_config``): they print their outcome and exit, as OVMS's servables config
manager does (src/servables_config_manager_module/)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ovserve.cli_flags import UsageError
from ovserve.shared.options import OPTIONS, SINGLE
from ovserve.shared.repository import list_versions

# a version folder holding one of these sets of files is a model (OVMS's modelextensions.cpp)
MODEL_FILE_SETS = ((".xml", ".bin"), (".onnx",), (".pdmodel", ".pdiparams"), (".pb",), (".tflite",))


class ConfigCommandError(Exception):
    """The command failed; the text is OVMS's status text."""


def _is_model_dir(path: str) -> bool:
    for name, version_dir in list_versions(path).items():
        if str(name) != os.path.basename(version_dir):  # OVMS: digits only, no leading zero
            continue
        suffixes = {os.path.splitext(f)[1] for f in os.listdir(version_dir)}
        if any(all(s in suffixes for s in wanted) for wanted in MODEL_FILE_SETS):
            return True
    return False


def _walk(path: str, relative: str, found: list[str]) -> None:
    if not os.path.isdir(path) or not os.listdir(path):
        return
    if os.path.isfile(os.path.join(path, "graph.pbtxt")) or _is_model_dir(path):
        found.append(relative)
        return
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.is_dir():
            _walk(entry.path, f"{relative}/{entry.name}", found)


def list_servables(repository: str) -> list[str]:
    """Each servable's path inside the repository: a folder with ``graph.pbtxt`` (a graph) or a
    version folder with model files (a model); other folders are searched further down."""
    found: list[str] = []
    if os.path.isdir(repository):
        for entry in sorted(os.scandir(repository), key=lambda e: e.name):
            _walk(entry.path, entry.name, found)
    return found


def _read(config_path: str) -> dict[str, Any]:
    try:
        with open(config_path, "rb") as f:
            raw = f.read()
    except OSError:
        raise ConfigCommandError("Configuration file not found or cannot open") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ConfigCommandError("The file is not valid json") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model_config_list"), list):
        raise ConfigCommandError("The file is not valid json")
    return doc


def _write(config_path: str, doc: dict[str, Any]) -> None:
    """Whole, then renamed into place: a server polling the file never reads half of it."""
    temporary = f"{config_path}.{os.getpid()}.tmp"
    with open(temporary, "w") as f:
        f.write(json.dumps(doc, indent=4))
    os.replace(temporary, config_path)


def _names(doc: dict[str, Any]) -> list[str]:
    return [
        entry["config"].get("name")
        for entry in doc["model_config_list"]
        if isinstance(entry, dict) and isinstance(entry.get("config"), dict)
    ]


def add_to_config(config_path: str, name: str, base_path: str) -> None:
    """Appends ``{"config": {"name", "base_path"}}``; creates the file when there is none."""
    doc = _read(config_path) if os.path.exists(config_path) else {"model_config_list": []}
    if name in _names(doc):
        raise ConfigCommandError("Given model name is already occupied")
    doc["model_config_list"].append({"config": {"name": name, "base_path": base_path}})
    _write(config_path, doc)


def remove_from_config(config_path: str, name: str) -> None:
    if not os.path.exists(config_path):
        raise ConfigCommandError("The provided base path is invalid or doesn't exists")
    doc = _read(config_path)
    names = _names(doc)
    if name not in names:
        raise ConfigCommandError("Model with requested name is not found")
    entries = [e for e in doc["model_config_list"] if isinstance(e, dict) and isinstance(e.get("config"), dict)]
    doc["model_config_list"].remove(entries[names.index(name)])
    _write(config_path, doc)


# the command-line half: OVMS's order of checks and its texts (src/cli_parser.cpp, src/config.cpp)
ALLOWED_WITH_EDITS = ("model_name", "model_path", "config_path")
REPOSITORY_ENV = "OVMS_MODEL_REPOSITORY_PATH"


def check_combinations(a: argparse.Namespace) -> None:
    """The directives that exclude each other, checked before anything else."""
    if a.add_to_config and a.list_models:
        raise UsageError("error parsing options - --list_models cannot be used with --add_to_config")
    if a.remove_from_config and a.list_models:
        raise UsageError("error parsing options - --list_models cannot be used with --remove_from_config")
    if a.remove_from_config and a.model_path is not None:
        raise UsageError("error parsing options - --model_path cannot be used with --remove_from_config")


def _repository(a: argparse.Namespace) -> str:
    return a.model_repository_path or os.environ.get(REPOSITORY_ENV, "")


def _check_edit(a: argparse.Namespace) -> str:
    """The config file an edit works on; OVMS's usage errors otherwise."""
    config_path = a.config_path
    if config_path is None and os.environ.get(REPOSITORY_ENV):
        config_path = os.path.join(os.environ[REPOSITORY_ENV], "config.json")
        print(f"Using default config path: {config_path}")
    if not config_path:
        raise UsageError("Set config_path with add_to_config/remove_from_config")
    if not a.model_name:
        raise UsageError(
            "Set model_name with add_to_config/remove_from_config\n"
            "Usage: \n"
            "  ovms --add_to_config --model_name <model_name> --model_repository_path <repo_path>"
            " --config_path <config_path>\n"
            "  ovms --add_to_config --model_name <model_name> --model_path <model_path> --config_path <config_path>\n"
            "  ovms --remove_from_config --model_name <model_name> --config_path <config_path>"
        )
    if a.add_to_config and not (a.model_path or _repository(a)):
        raise UsageError(
            "Set model_name either with model_path or model_repository_path with add_to_config\n"
            "Usage: \n"
            "  ovms --add_to_config --model_name <model_name> --model_repository_path <repo_path>"
            " --config_path <config_path>\n"
            "  ovms --add_to_config --model_name <model_name> --model_path <model_path> --config_path <config_path>"
        )
    single_model = [o.flag for o in OPTIONS if o.group == SINGLE and getattr(a, o.flag) != o.default]
    extra = [f for f in single_model if f not in ALLOWED_WITH_EDITS]
    if extra:
        raise UsageError(
            "Adding or removing models from the configuration file, allows passing only model_name and model_path "
            "parameters. Invalid parameters passed: " + "".join(f"{f}, " for f in extra)
        )
    return config_path


def run(a: argparse.Namespace) -> int:
    """Runs the directive; its exit status (0 when done, 1 when the file could not be changed)."""
    if a.list_models:
        repository = _repository(a)
        if not repository:
            raise UsageError("Use --list_models with --model_repository_path")
        print("Listing models in repository...")
        print(f"Model repository path: {repository}")
        for servable in list_servables(repository):
            print(servable)
        return 0
    config_path = _check_edit(a)
    try:
        if a.add_to_config:
            add_to_config(config_path, a.model_name, a.model_path or os.path.join(_repository(a), a.model_name))
        else:
            remove_from_config(config_path, a.model_name)
    except (ConfigCommandError, OSError) as exc:
        text = str(exc) if isinstance(exc, ConfigCommandError) else exc.strerror
        print(f"{config_path} error on config update : {text}")
        return 1
    print(f"Config updated: {config_path}")
    return 0
