"""The CPU plan: which CPUs this process may really use, split into disjoint worker sets.

Counts come from the affinity mask and the cgroup CPU quota, never ``os.cpu_count()``, so a
container limited to 2 CPUs on a 64-core host plans for 2.
"""

from __future__ import annotations

import math
import os


def cgroup_cpu_limit() -> float | None:
    """CPUs granted by the cgroup quota (v2 ``cpu.max`` or v1 cfs files); None when unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota_us = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period_us = int(f.read())
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
    except (OSError, ValueError):
        pass
    return None


def allowed_cpus() -> list[int]:
    """The CPUs of the affinity mask, trimmed to the cgroup quota (rounded up)."""
    cpus = sorted(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = cpus[: max(1, math.ceil(limit))]
    return cpus


def parse_cpu_sets(text: str) -> list[list[int]]:
    """``"0-3;4-7"`` or ``"0,1;2,3"``: one set per worker, separated by ``;``."""
    sets = []
    for part in text.split(";"):
        cpus: list[int] = []
        for item in part.split(","):
            item = item.strip()
            if not item:
                continue
            if "-" in item:
                lo, hi = item.split("-", 1)
                cpus.extend(range(int(lo), int(hi) + 1))
            else:
                cpus.append(int(item))
        if not cpus:
            raise ValueError(f"empty CPU set in {text!r}")
        sets.append(sorted(set(cpus)))
    return sets


def split_evenly(cpus: list[int], workers: int) -> list[list[int]]:
    """Disjoint contiguous sets; the first ``len(cpus) % workers`` get one CPU more."""
    if workers < 1 or workers > len(cpus):
        raise ValueError(f"cannot give {workers} workers disjoint CPU sets out of {len(cpus)} CPUs {cpus}")
    base, extra = divmod(len(cpus), workers)
    sets, start = [], 0
    for i in range(workers):
        n = base + (1 if i < extra else 0)
        sets.append(cpus[start : start + n])
        start += n
    return sets


def validate_sets(sets: list[list[int]], allowed: list[int]) -> None:
    seen: set[int] = set()
    for s in sets:
        for cpu in s:
            if cpu not in allowed:
                raise ValueError(f"CPU {cpu} is not in this process's allowance {allowed}")
            if cpu in seen:
                raise ValueError(f"CPU {cpu} is in more than one worker set")
            seen.add(cpu)
