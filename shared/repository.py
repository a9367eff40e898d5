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


def find_model_file(version_dir: str) -> str:
    """The model file of one version directory: IR (``.xml`` with its ``.bin``), else ONNX."""
    try:
        names = sorted(os.listdir(version_dir))
    except OSError as exc:
        raise RepositoryError(f"cannot read {version_dir}: {exc}") from exc
    for name in names:
        if name.endswith(".xml") and os.path.isfile(os.path.join(version_dir, name[:-4] + ".bin")):
            return os.path.join(version_dir, name)
    for name in names:
        if name.endswith(".onnx"):
            return os.path.join(version_dir, name)
    raise RepositoryError(f"File not found or cannot open: no .xml+.bin or .onnx model in {version_dir}")
