"""Which workers host a model's versions."""

from __future__ import annotations

import logging

from ovserve.records import ModelRecord

log = logging.getLogger("ovserve.registry")


def place(models: dict[str, ModelRecord], name: str, workers: list[int], replicas: int) -> list[int]:
    """Workers that host ``name``'s versions. Every worker is a CPU worker (OpenVINO sees only
    the CPU here), so the device does not narrow the choice; with ``replicas`` N a model goes to
    the N workers hosting the fewest models, and stays there."""
    record = models.get(name)
    if record is None or not replicas or replicas >= len(workers):
        return list(workers)
    if not record.workers:
        load = {w: 0 for w in workers}
        for other in models.values():
            if not other.removed:
                for w in other.workers:
                    load[w] += 1
        record.workers = sorted(workers, key=lambda w: (load[w], w))[:replicas]
        log.info("model %s placed on workers %s", name, record.workers)
    return list(record.workers)
