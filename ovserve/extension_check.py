"""``--cpu_extension``, checked once at start by a probe process (``workers.extension_probe``)."""

from __future__ import annotations

import subprocess
import sys

PROBE_TIMEOUT_S = 120


def extension_error(path: str) -> str | None:
    """Why the library cannot be loaded into OpenVINO (OVMS's text), or None when it can."""
    try:
        r = subprocess.run(
            [sys.executable, "-m", "ovserve.workers.extension_probe", path],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"Custom CPU extension loading has failed! Reason: no answer in {PROBE_TIMEOUT_S} s"
    if r.returncode == 0:
        return None
    lines = [line for line in r.stderr.splitlines() if line.startswith("Custom CPU extension")]
    return lines[-1] if lines else f"Custom CPU extension loading has failed! Reason: exit status {r.returncode}"
