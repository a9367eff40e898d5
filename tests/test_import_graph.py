"""The import graph follows the process roles: ``shared`` imports no role, the supervisor
(``ovserve/``), the fronts and the workers import no other role, and no gRPC module imports the
REST or HTTP code (a transport adds an adapter; it does not borrow another transport's)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.server_util import ROOT

ROLES = {"ovserve": "supervisor", "frontend": "frontend", "workers": "workers", "shared": "shared"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("ovserve.")}


def _role(module: str) -> str:
    """The role of an ``ovserve.*`` module: its subpackage's, else the supervisor's (top level)."""
    part = module.split(".")[1] if "." in module else ""
    return ROLES[part] if part in ("frontend", "workers", "shared") else "supervisor"


def _files(folder: str) -> list[Path]:
    return [p for p in (Path(ROOT) / folder).rglob("*.py") if "_pb2" not in p.name]


def test_roles_import_only_themselves_and_shared() -> None:
    crossings = []
    for folder, role in ROLES.items():
        for path in _files(folder):
            for name in _imports(path):
                if name in ("ovserve", "ovserve.__version__"):
                    continue  # the package's own version
                target = _role(name)
                if target != role and target != "shared":
                    crossings.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not crossings, crossings


def test_grpc_modules_import_no_rest_or_http_code() -> None:
    grpc = [
        *_files("frontend/grpc_api"),
        *Path(ROOT).glob("frontend/*/grpc_service.py"),
        Path(ROOT, "frontend/grpc_front.py"),
    ]
    assert len(grpc) >= 5
    borrowed = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in grpc
        for name in _imports(path)
        if name.startswith("ovserve.frontend.http") or ".rest_" in name
    ]
    assert not borrowed, borrowed
