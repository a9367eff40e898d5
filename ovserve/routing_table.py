"""The routing table the supervisor sends to the fronts (``frontend.table.RoutingTable`` reads
it): every model's versions with their states, signatures, hosts, instances and metrics slots,
and every pipeline's state and plan."""

from __future__ import annotations

from typing import Any

from ovserve.registry import Registry


def routing_table(registry: Registry) -> dict[str, Any]:
    models = {}
    for name, record in registry.models.items():
        rows = []
        for _, v in sorted(record.versions.items()):
            cur = v.current
            rows.append(
                [
                    v.version,
                    int(v.state),
                    int(v.error),
                    cur.signature if cur else None,
                    sorted(cur.loaded_on) if cur else [],
                    cur.inc if cur else 0,
                    registry.slots.of(name, v.version),
                ]
            )
        models[name] = rows
    return {
        "gen": registry.generation,
        "models": models,
        "pipelines": registry.pipelines.table(registry.slots.of),
        "workers": dict(registry.workers_alive),
        "ready": registry.ready,
    }
