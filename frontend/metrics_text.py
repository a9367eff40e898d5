"""The Prometheus text exposition of the summed cells, laid out as OVMS's prometheus-cpp writes
it: ``# HELP``/``# TYPE`` per family, labels in alphabetical order, histograms as ``_count``,
``_sum`` then cumulative ``_bucket`` lines with ``le`` last, no timestamps (prometheus-cpp)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ovserve.frontend.table import RoutingTable, VersionEntry
from ovserve.shared import metrics_layout as L

_LE = [str(b) for b in L.BUCKETS] + ["+Inf"]
Servable = tuple[str, VersionEntry]  # model name, version entry


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))


def _histogram(out: list[str], name: str, labels: str, cells: np.ndarray) -> None:
    counts = cells[: len(_LE)]
    out.append(f"{name}_count{{{labels}}} {int(counts.sum())}")
    out.append(f"{name}_sum{{{labels}}} {int(cells[L.HIST_CELLS - 1])}")
    for le, total in zip(_LE, np.cumsum(counts).tolist(), strict=True):
        out.append(f'{name}_bucket{{{labels},le="{le}"}} {total}')


def _requests(out: list[str], name: str, servables: list[Servable], values: np.ndarray, base: int) -> None:
    models: dict[str, list[VersionEntry]] = {}
    for model, entry in servables:
        models.setdefault(model, []).append(entry)
    for model, entries in models.items():
        for i, s in enumerate(L.REQUEST_SERIES):
            if s.versioned:
                for e in entries:
                    version = str(e.version)
                    labels = _labels(api=s.api, interface=s.interface, method=s.method, name=model, version=version)
                    out.append(f"{name}{{{labels}}} {int(values[e.slot, base + i])}")
            else:  # one series per model, as prometheus-cpp merges identical label sets
                labels = _labels(api=s.api, interface=s.interface, method=s.method, name=model)
                out.append(f"{name}{{{labels}}} {int(sum(values[e.slot, base + i] for e in entries))}")


def _request_time(out: list[str], name: str, servables: list[Servable], values: np.ndarray) -> None:
    for model, e in servables:
        for interface in ("gRPC", "REST"):
            labels = _labels(interface=interface, name=model, version=str(e.version))
            start = L.REQUEST_TIME[interface]
            _histogram(out, name, labels, values[e.slot, start : start + L.HIST_CELLS])


def _per_version(cell: int, histogram: bool = False) -> Callable[[list[str], str, list[Servable], np.ndarray], None]:
    """A family of a model version's own (inference, queues): pipelines have none (OVMS reports
    only their requests; their nodes count in their models' families)."""

    def write(out: list[str], name: str, servables: list[Servable], values: np.ndarray) -> None:
        for model, e in servables:
            if e.pipeline:
                continue
            labels = _labels(name=model, version=str(e.version))
            if histogram:
                _histogram(out, name, labels, values[e.slot, cell : cell + L.HIST_CELLS])
            else:
                out.append(f"{name}{{{labels}}} {int(values[e.slot, cell])}")

    return write


_WRITERS: dict[str, Callable[[list[str], str, list[Servable], np.ndarray], None]] = {
    "ovms_current_requests": _per_version(L.CURRENT),
    "ovms_requests_success": lambda out, n, s, v: _requests(out, n, s, v, L.SUCCESS),
    "ovms_requests_fail": lambda out, n, s, v: _requests(out, n, s, v, L.FAIL),
    "ovms_request_time_us": _request_time,
    "ovms_streams": _per_version(L.STREAMS),
    "ovms_inference_time_us": _per_version(L.INFERENCE_TIME, histogram=True),
    "ovms_wait_for_infer_req_time_us": _per_version(L.WAIT_TIME, histogram=True),
    "ovms_infer_req_queue_size": _per_version(L.QUEUE_SIZE),
    "ovms_infer_req_active": _per_version(L.ACTIVE),
    "ovserve_inferences_total": _per_version(L.INFERENCES),
    "ovserve_inferred_requests_total": _per_version(L.INFERRED),
}


def render(table: RoutingTable, values: np.ndarray, families: tuple[str, ...]) -> bytes:
    """Every enabled family, with a series for every version the table lists (OVMS keeps the
    series of a retired version; its gauges read 0)."""
    servables = [
        (model, entry)
        for model, versions in sorted(table.models.items())
        for _, entry in sorted(versions.items())
        if entry.slot >= 0
    ]
    out: list[str] = []
    for family in L.MODEL_FAMILIES:
        if family.name in families:
            out.append(f"# HELP {family.name} {family.help}")
            out.append(f"# TYPE {family.name} {family.kind}")
            _WRITERS[family.name](out, family.name, servables, values)
    return ("\n".join(out) + "\n").encode()
