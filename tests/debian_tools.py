"""Debian tools some tests drive for real (prometheus, haproxy): installed with apt when they
are missing and the tests run as root, as .ci/run installs them; without them the test fails,
saying what to install (a skipped test would prove nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _find(binary: str) -> str | None:
    return shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)), None
    )


def debian_tool(binary: str, package: str) -> str:
    path = _find(binary)
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], env=env, timeout=900)
        path = _find(binary)
    if path is None:
        pytest.fail(f"this test needs Debian's {binary}: apt-get install {package} (as root; .ci/run does it)")
    return path
