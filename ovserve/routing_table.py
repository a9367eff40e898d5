"""The routing table the supervisor sends to the fronts (``frontend.table.RoutingTable`` reads
it): every model's versions with their states, signatures, hosts, instances and metrics slots,
and every pipeline's state and plan (``shared.routing_rows``)."""

from __future__ import annotations

from ovserve.registry import Registry
from ovserve.shared.routing_rows import RoutingTableWire, VersionRow


def routing_table(registry: Registry) -> RoutingTableWire:
    models = {}
    for name, record in registry.models.items():
        rows = []
        for _, v in sorted(record.versions.items()):
            cur = v.current
            rows.append(
                VersionRow(
                    v.version,
                    v.state,
                    v.error,
                    cur.signature if cur else None,
                    tuple(sorted(cur.loaded_on)) if cur else (),
                    cur.number if cur else 0,
                    registry.slots.of(name, v.version),
                )
            )
        models[name] = rows
    return RoutingTableWire(
        registry.generation,
        models,
        registry.pipelines.table(registry.slots.of),
        dict(registry.workers_alive),
        registry.ready,
    )
