"""What a front counts (requests by api, method and interface; request time; requests in
process) and its ``/metrics`` endpoint, which sums every process's cells.

Counting follows OVMS (src/metric_module.cpp): a request counts on the model version it names or
resolves to; an unknown model or version counts nowhere; GetModelStatus counts successes only;
request time is observed for successful Predict and ModelInfer only, from receipt to answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ovserve.frontend.http.reply import TEXT, Endpoint, Headers, Reply, error_body
from ovserve.frontend.http.routing import Route
from ovserve.frontend.lifecycle import Call
from ovserve.frontend.metrics_text import render
from ovserve.frontend.table import RoutingTable
from ovserve.shared import errors as E
from ovserve.shared import metrics_layout as L
from ovserve.shared.errors import OvmsError
from ovserve.shared.metrics_cells import MetricCells, cell_files, cells_path, observe, totals

# per series: histogram of its request time (-1: none), and whether a failure counts
_TIME = tuple(L.REQUEST_TIME[s.interface] if s.method in L.INFER_METHODS else -1 for s in L.REQUEST_SERIES)
_COUNTS_FAIL = tuple(s.method != "GetModelStatus" for s in L.REQUEST_SERIES)


def _slot_count(table: RoutingTable) -> int:
    """Slots the table's versions use (they are numbered from 0)."""
    return 1 + max((e.slot for versions in table.models.values() for e in versions.values()), default=-1)


def series(api: str, method: str, interface: str) -> int:
    return L.SERIES_INDEX[(api, method, interface)]


class FrontMetrics:
    """This front's cells (None: metrics are off) and the server's families."""

    def __init__(self, supervisor_pid: int, index: int, families: tuple[str, ...]) -> None:
        self.supervisor_pid = supervisor_pid
        self.families = families
        self.cells = MetricCells(cells_path(supervisor_pid, "front", index)) if families else None

    def on_table(self, table: RoutingTable) -> None:
        if self.cells is not None:
            self.cells.ensure(max(_slot_count(table) - 1, 0))

    def request_done(self, table: RoutingTable, name: str, version: int, index: int, ok: bool, started: float) -> None:
        """Count one answered request of series ``index``; ``started``: its ``perf_counter``.
        On every request's path, so it writes the cells directly."""
        if self.cells is None or not (ok or _COUNTS_FAIL[index]):
            return
        try:
            slot = table.resolve(name, version).slot
        except OvmsError:
            return  # unknown model or version: counted nowhere
        if slot < 0:
            return
        cells, base = self.cells.cells, slot * L.BLOCK
        if not ok:
            cells[base + L.FAIL + index] += 1
            return
        cells[base + L.SUCCESS + index] += 1
        histogram = _TIME[index]
        if histogram >= 0:
            observe(cells, base + histogram, (time.perf_counter() - started) * 1e6)

    def endpoint(self, table: Callable[[], RoutingTable]) -> Endpoint:
        async def metrics(call: Call, r: Route, headers: Headers, body: bytes) -> Reply:
            if self.cells is None:  # OVMS: the disabled endpoint is an unknown URL, sent as text
                return Reply(E.REST_INVALID_URL.http, error_body(E.REST_INVALID_URL.message), content_type=TEXT)
            current = table()
            values = totals(cell_files(self.supervisor_pid), _slot_count(current))
            return Reply(200, render(current, values, self.families), content_type=TEXT)

        return metrics
