"""The model repository on disk: ``<base_path>/<version>/<model files>``, as OVMS lays it out."""

from __future__ import annotations

import os
import re

_VERSION = re.compile(r"^\+?\d+$")


class RepositoryError(Exception):
    pass


def list_versions(base_path: str) -> dict[int, str]:
    """Version number -> directory, for every sub-directory named by an integer > 0.

    Raises RepositoryError when ``base_path`` is not a readable directory (OVMS: PATH_INVALID).
    """
    if ".." in base_path.replace("\\", "/").split("/"):
        raise RepositoryError(f"path {base_path} escapes its parent")
    if os.path.isfile(base_path) and base_path.endswith(SINGLE_FILE_SUFFIXES):
        return {1: base_path}  # single-file mode: the file is version 1
    try:
        entries = list(os.scandir(base_path))
    except OSError as exc:
        raise RepositoryError(f"model path {base_path} is not a readable directory: {exc}") from exc
    versions: dict[int, str] = {}
    for entry in entries:
        if entry.is_dir() and _VERSION.match(entry.name):
            number = int(entry.name)
            if 0 < number < 2**63:
                versions[number] = entry.path
    return versions


SINGLE_FILE_SUFFIXES = (".xml", ".onnx", ".pdmodel", ".pb", ".tflite")


def _pair(folder: str, name: str, suffix: str, partner: str) -> bool:
    return name.endswith(suffix) and os.path.isfile(os.path.join(folder, name[: -len(suffix)] + partner))


def find_model_file(version_dir: str) -> str:
    """The model of one version directory, first hit in OVMS's order: OpenVINO IR (``.xml``
    with its ``.bin``), ONNX, PaddlePaddle (``.pdmodel`` with ``.pdiparams``), TensorFlow
    (``saved_model.pb``: its folder; other ``.pb``: frozen graph), TFLite. A model file given
    directly (single-file mode) is returned as is."""
    if os.path.isfile(version_dir):
        return version_dir
    try:
        names = sorted(os.listdir(version_dir))
    except OSError as exc:
        raise RepositoryError(f"cannot read {version_dir}: {exc}") from exc
    rules = (
        lambda n: _pair(version_dir, n, ".xml", ".bin"),
        lambda n: n.endswith(".onnx"),
        lambda n: _pair(version_dir, n, ".pdmodel", ".pdiparams"),
        lambda n: n.endswith(".pb"),
        lambda n: n.endswith(".tflite"),
    )
    for rule in rules:
        for name in names:
            if rule(name):
                return version_dir if name == "saved_model.pb" else os.path.join(version_dir, name)
    raise RepositoryError(f"File not found or cannot open: no model file in {version_dir}")
