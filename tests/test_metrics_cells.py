"""The per-process metric cells: growth, reopening after a restart, sums, bucket edges."""

from __future__ import annotations

from pathlib import Path

import pytest
from ovserve.shared import metrics_layout as L
from ovserve.shared.metrics_cells import INITIAL_SLOTS, MetricCells, observe, totals


def test_growth_keeps_values_and_a_restart_keeps_counters_not_gauges(tmp_path: Path) -> None:
    path = str(tmp_path / "cells")
    cells = MetricCells(path)
    cells.add(3, L.SUCCESS, 5)
    cells.add(3, L.STREAMS, 2)
    cells.ensure(INITIAL_SLOTS + 10)  # remapped larger
    assert cells.slots >= INITIAL_SLOTS + 11
    cells.add(INITIAL_SLOTS + 10, L.FAIL + 1, 7)
    assert cells.cells[3 * L.BLOCK + L.SUCCESS] == 5
    cells.close()
    again = MetricCells(path)  # a respawned process under the same role and index
    assert again.slots >= INITIAL_SLOTS + 11
    assert again.cells[3 * L.BLOCK + L.SUCCESS] == 5 and again.cells[(INITIAL_SLOTS + 10) * L.BLOCK + L.FAIL + 1] == 7
    assert again.cells[3 * L.BLOCK + L.STREAMS] == 0  # what it measured died with the old process
    again.close()


def test_totals_sum_files_of_any_size(tmp_path: Path) -> None:
    small, large = MetricCells(str(tmp_path / "a")), MetricCells(str(tmp_path / "b"))
    large.ensure(200)
    small.add(1, L.INFERENCES, 2)
    large.add(1, L.INFERENCES, 3)
    large.add(200, L.INFERENCES, 4)
    paths = [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "gone")]
    values = totals(paths, 201)
    assert values.shape == (201, L.BLOCK)
    assert values[1, L.INFERENCES] == 5 and values[200, L.INFERENCES] == 4 and values.sum() == 9
    assert totals(paths, 2).shape == (2, L.BLOCK)  # fewer slots than the files hold
    small.close()
    large.close()


@pytest.mark.parametrize(
    ("us", "bucket"), [(0.0, 0), (10.0, 0), (10.5, 1), (18.0, 1), (1474755971.0, 32), (1474755972.0, 33), (1e12, 33)]
)
def test_bucket_bounds_are_inclusive(tmp_path: Path, us: float, bucket: int) -> None:
    cells = MetricCells(str(tmp_path / "c"))
    observe(cells.cells, L.INFERENCE_TIME, us)
    counts = [cells.cells[L.INFERENCE_TIME + i] for i in range(len(L.BUCKETS) + 1)]
    assert counts.index(1) == bucket and sum(counts) == 1
    assert cells.cells[L.INFERENCE_TIME + L.HIST_CELLS - 1] == int(us)
    cells.close()


def test_metrics_list_rules() -> None:
    assert L.enabled_families(False, None) == ()
    assert "ovms_infer_req_active" not in L.enabled_families(True, None)
    assert L.enabled_families(True, ["ovms_infer_req_active"]) == ("ovms_infer_req_active",)
    with pytest.raises(L.MetricsConfigError, match="metrics_enable setting is missing"):
        L.enabled_families(False, ["ovms_streams"])
    with pytest.raises(L.MetricsConfigError, match="Invalid name in metrics_list"):
        L.enabled_families(True, ["ovms_graph_request_latency_us"])  # documented, but in neither set
