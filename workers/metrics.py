"""What a worker counts, per model version: inference time, time waited in the queue, the
inference running (``ovms_infer_req_active``), streams and infer requests of the loaded
instances, and inferences against requests served (their ratio: the achieved batch size)."""

from __future__ import annotations

from typing import Any

from shared import metrics_layout as L
from shared.metrics_cells import MetricCells, cells_path


class WorkerMetrics:
    def __init__(self, supervisor_pid: int, index: int, enabled: bool) -> None:
        self.cells = MetricCells(cells_path(supervisor_pid, "worker", index)) if enabled else None

    def loaded(self, loaded: Any, delta: int = 1) -> None:
        """An instance was loaded (+1) or released (-1): its streams and its one infer request."""
        cells = self.cells
        if cells is None or loaded.slot < 0:
            return
        cells.ensure(loaded.slot)
        cells.add(loaded.slot, L.STREAMS, delta * loaded.streams)
        cells.add(loaded.slot, L.QUEUE_SIZE, delta)

    def running(self, slot: int, delta: int) -> None:
        if self.cells is not None and slot >= 0:
            self.cells.add(slot, L.ACTIVE, delta)

    def inference(self, slot: int, queued_s: list[float], compute_s: float) -> None:
        """One inference that served ``len(queued_s)`` requests, each queued that long."""
        cells = self.cells
        if cells is None or slot < 0:
            return
        cells.observe(slot, L.INFERENCE_TIME, compute_s * 1e6)
        for q in queued_s:
            cells.observe(slot, L.WAIT_TIME, max(q, 0.0) * 1e6)
        cells.add(slot, L.INFERENCES)
        cells.add(slot, L.INFERRED, len(queued_s))
