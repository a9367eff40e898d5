"""The README is the map: its module table names every module of the package (and only modules
that exist), and its life-of-a-request section names modules that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.server_util import ROOT

ROLE_FOLDERS = ("ovserve", "frontend", "workers", "shared")


def _modules() -> set[str]:
    listed = subprocess.run(["git", "ls-files", *ROLE_FOLDERS], capture_output=True, text=True, cwd=ROOT, check=True)
    return {
        name
        for name in listed.stdout.split()
        if name.endswith(".py") and not name.endswith("__init__.py") and "_pb2" not in name
    }


def _readme() -> str:
    return (Path(ROOT) / "README.md").read_text()


def test_module_table_is_complete() -> None:
    text = _readme()
    table = text[text.index("Modules, one line each") :]
    table = table[: table.index("\n\n", table.index("| module | job |"))]
    rows = set(re.findall(r"^\| `([\w/]+\.py)` \|", table, re.M))
    modules = _modules()
    assert not modules - rows, f"modules the README's table lacks: {sorted(modules - rows)}"
    assert not rows - modules, f"rows for modules that do not exist: {sorted(rows - modules)}"


def test_paths_the_readme_names_exist() -> None:
    named = set(re.findall(r"`((?:ovserve|frontend|workers|shared|bench|tests|deploy)/[\w/.-]+\.\w+)`", _readme()))
    missing = sorted(p for p in named if not (Path(ROOT) / p.split("::")[0]).exists())
    assert not missing, missing
