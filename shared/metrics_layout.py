"""The one definition of ovserve's metrics: OVMS's families (names, types, HELP texts, labels,
buckets; src/metrics/, docs/metrics.md), which of them are on by default, and where each value
lives in a servable's block of 64-bit cells.

Every process that counts (HTTP fronts, gRPC fronts, workers) writes its own cells
(``shared.metrics_cells``); ``/metrics`` sums them. One block per model version ("slot", assigned
by the supervisor and never reused), the same layout in every process.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import NamedTuple

# Histogram bounds in microseconds, OVMS's: floor(10 * 1.8^i), i = 0..32, then +Inf.
BUCKETS: tuple[int, ...] = tuple(math.floor(10 * 1.8**i) for i in range(33))
HIST_CELLS = len(BUCKETS) + 2  # one count per bucket (the last one is +Inf), then the sum


class RequestSeries(NamedTuple):
    api: str
    method: str
    interface: str
    versioned: bool  # GetModelStatus and ModelReady series carry no version label


def _request_series() -> tuple[RequestSeries, ...]:
    out = []
    for api, methods in (
        ("TensorFlowServing", ("Predict", "GetModelMetadata", "GetModelStatus")),
        ("KServe", ("ModelInfer", "ModelMetadata", "ModelReady")),
    ):
        for method in methods:
            for interface in ("gRPC", "REST"):
                out.append(RequestSeries(api, method, interface, method not in ("GetModelStatus", "ModelReady")))
    return tuple(out)


REQUEST_SERIES = _request_series()  # OVMS's 12 (api, method, interface) combinations
SERIES_INDEX = {(s.api, s.method, s.interface): i for i, s in enumerate(REQUEST_SERIES)}
INFER_METHODS = frozenset({"Predict", "ModelInfer"})  # the ones whose request time is observed

# ---- cell offsets within a slot's block --------------------------------------------------------
SUCCESS = 0  # + series index
FAIL = SUCCESS + len(REQUEST_SERIES)
REQUEST_TIME = {"gRPC": FAIL + len(REQUEST_SERIES)}  # histogram per interface
REQUEST_TIME["REST"] = REQUEST_TIME["gRPC"] + HIST_CELLS
INFERENCE_TIME = REQUEST_TIME["REST"] + HIST_CELLS
WAIT_TIME = INFERENCE_TIME + HIST_CELLS
STREAMS = WAIT_TIME + HIST_CELLS  # gauges from here on: a restarted process zeroes its own
QUEUE_SIZE = STREAMS + 1
ACTIVE = STREAMS + 2
CURRENT = STREAMS + 3
INFERENCES = STREAMS + 4  # counters again: ovserve's own, for the achieved batch size
INFERRED = STREAMS + 5
BLOCK = STREAMS + 6
GAUGES = (STREAMS, QUEUE_SIZE, ACTIVE, CURRENT)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: str  # counter, gauge, histogram
    help: str
    default: bool  # on when no metrics_list is given


MODEL_FAMILIES = (
    Family("ovms_current_requests", "gauge", "Number of inference requests currently in process.", True),
    Family("ovms_requests_success", "counter", "Number of successful requests to a model or a DAG.", True),
    Family("ovms_requests_fail", "counter", "Number of failed requests to a model or a DAG.", True),
    Family("ovms_request_time_us", "histogram", "Processing time of requests to a model or a DAG.", True),
    Family("ovms_streams", "gauge", "Number of OpenVINO execution streams.", True),
    Family("ovms_inference_time_us", "histogram", "Inference execution time in the OpenVINO backend.", True),
    Family("ovms_wait_for_infer_req_time_us", "histogram", "Request waiting time in the scheduling queue.", True),
    Family("ovms_infer_req_queue_size", "gauge", "Inference request queue size (nireq).", False),
    Family(
        "ovms_infer_req_active",
        "gauge",
        "Number of currently consumed inference request from the processing queue.",
        False,
    ),
    # ovserve's own (not OVMS names; accepted in metrics_list as an extension): their ratio is
    # the achieved batch size of the worker-side batching
    Family(
        "ovserve_inferences_total",
        "counter",
        "Number of OpenVINO inferences run (each serves one request or more).",
        True,
    ),
    Family("ovserve_inferred_requests_total", "counter", "Number of requests those inferences served.", True),
)
# OVMS's MediaPipe families: valid names in metrics_list; ovserve serves no graphs, so no series
MEDIAPIPE_FAMILIES = (
    "ovms_current_graphs",
    "ovms_requests_accepted",
    "ovms_requests_rejected",
    "ovms_graph_error",
    "ovms_graph_processing_time_us",
    "ovms_responses",
)
FAMILY = {f.name: f for f in MODEL_FAMILIES}


class MetricsConfigError(ValueError):
    """A metrics setting OVMS refuses at start-up; the text is OVMS's."""


def enabled_families(enable: bool, metrics_list: list[str] | None) -> tuple[str, ...]:
    """The families served: none when disabled; the defaults, or exactly the listed ones."""
    if metrics_list and not enable:
        raise MetricsConfigError("metrics_enable setting is missing, required when metrics_list is provided")
    if not enable:
        return ()
    if not metrics_list:
        return tuple(f.name for f in MODEL_FAMILIES if f.default)
    names = [n.strip() for n in metrics_list if n.strip()]
    for name in names:
        if name not in FAMILY and name not in MEDIAPIPE_FAMILIES:
            raise MetricsConfigError(f"Invalid name in metrics_list: Metrics family name not supported: {name}")
    return tuple(f.name for f in MODEL_FAMILIES if f.name in names)


def bucket_of(us: float) -> int:
    """Index of the bucket a value falls in (bounds are inclusive, as Prometheus's ``le``)."""
    return bisect.bisect_left(BUCKETS, us)
