"""What a worker counts, per model version: inference time, time waited in the queue, the
inference running (``ovms_infer_req_active``), streams and infer requests of the loaded
instances, and inferences against requests served (their ratio: the achieved batch size).

These run around every inference, so they write the cells with no further calls (a tiny
model's inference takes about 8 us; these take well under one)."""

from __future__ import annotations

from typing import Any

from ovserve.shared import metrics_layout as L
from ovserve.shared.metrics_cells import MetricCells, cells_path, observe

_BLOCK, _ACTIVE, _INFERENCE, _WAIT, _INFERENCES, _INFERRED = (
    L.BLOCK,
    L.ACTIVE,
    L.INFERENCE_TIME,
    L.WAIT_TIME,
    L.INFERENCES,
    L.INFERRED,
)


class WorkerMetrics:
    def __init__(self, supervisor_pid: int, index: int, enabled: bool) -> None:
        self.store = MetricCells(cells_path(supervisor_pid, "worker", index)) if enabled else None

    def loaded(self, loaded: Any, delta: int = 1) -> None:
        """An instance was loaded (+1) or released (-1): its streams and OVMS's infer-request pool size."""
        store = self.store
        if store is None or loaded.slot < 0:
            return
        store.ensure(loaded.slot)
        store.add(loaded.slot, L.STREAMS, delta * loaded.streams)
        store.add(loaded.slot, L.QUEUE_SIZE, delta * loaded.nireq)

    def begin(self, slot: int) -> None:
        """Inferences on ``slot`` start (``ovms_infer_req_active``)."""
        if self.store is not None and slot >= 0:
            self.store.cells[slot * _BLOCK + _ACTIVE] += 1

    def end(self, slot: int) -> None:
        if self.store is not None and slot >= 0:
            self.store.cells[slot * _BLOCK + _ACTIVE] -= 1

    def inference(self, slot: int, queued_s: list[float], compute_s: float) -> None:
        """One inference that served ``len(queued_s)`` requests, each queued that long."""
        if self.store is None or slot < 0:
            return
        cells, base = self.store.cells, slot * _BLOCK
        observe(cells, base + _INFERENCE, compute_s * 1e6)
        wait = base + _WAIT
        for q in queued_s:
            observe(cells, wait, q * 1e6 if q > 0 else 0.0)
        cells[base + _INFERENCES] += 1
        cells[base + _INFERRED] += len(queued_s)
