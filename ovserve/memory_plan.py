"""How much memory the REST fronts may commit to request bodies, by default: half of what this
server may use (the machine's memory, or its cgroup's limit when lower: a container), shared
by the REST fronts. The rest is for the workers' models and everything else."""

from __future__ import annotations

import psutil

CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
INTAKE_SHARE = 0.5
MIN_INTAKE = 64 * 1024**2


def memory_limit() -> int:
    """Bytes this process tree may use: the lower of physical memory and the cgroup's limit."""
    total = psutil.virtual_memory().total
    for path in CGROUP_LIMITS:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def intake_per_front(rest_fronts: int) -> int:
    return max(MIN_INTAKE, int(memory_limit() * INTAKE_SHARE) // max(1, rest_fronts))
