"""Merging queued requests into one inference, and the batching statistics.

Requests for the same loaded model instance whose inputs agree on every dimension but the
first, and whose model has a dynamic batch dimension, are concatenated along dim 0 (up to a
maximum batch), run once, and the outputs split back in order. Anything else runs alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ovserve.shared.wording import count

log = logging.getLogger("ovserve.worker")


@dataclass(slots=True)
class Job:
    front: Any  # the connection its reply goes back on
    rid: int
    key: tuple[str, int, int]
    loaded: Any  # model_host.LoadedVersion
    arena: Any  # shared.shm.Segment
    arrays: list[tuple[str, np.ndarray]]
    out_offset: int
    out_size: int
    sent: float
    chain: Any = None  # messages.Chain: a pipeline's chain of nodes, run alone

    @property
    def batch(self) -> int:
        return int(self.arrays[0][1].shape[0]) if self.arrays and self.arrays[0][1].ndim else 1

    def merge_key(self) -> tuple[Any, ...]:
        return (self.key, tuple((n, a.dtype.str, a.shape[1:]) for n, a in self.arrays))


def batch_limit(job: Job, default: int) -> int:
    """The largest merged batch for ``job``'s model: its own (per-model config), else the worker's."""
    return job.loaded.max_batch or default


def batch_delay(jobs: list[Job], default_delay_s: float, max_batch: int) -> float:
    """How long to wait for more requests: the longest delay among the queued jobs' models
    whose batch has not filled (each model's own setting, else the worker's)."""
    queued: dict[int, list[Any]] = {}  # per loaded model: [requests' batch, its delay, its limit]
    for job in jobs:
        if job.loaded.batchable and job.chain is None:
            own = job.loaded.batch_delay_s
            entry = queued.setdefault(
                id(job.loaded), [0, default_delay_s if own is None else own, batch_limit(job, max_batch)]
            )
            entry[0] += job.batch
    return max((wait for n, wait, limit in queued.values() if wait > 0 and n < limit), default=0.0)


def group(jobs: list[Job], max_batch: int) -> list[list[Job]]:
    """Groups to run, each one inference; order within a group is arrival order. ``max_batch``:
    the worker's limit, for models that set none of their own."""
    groups: list[list[Job]] = []
    open_groups: dict[tuple[Any, ...], list[Job]] = {}
    sizes: dict[tuple[Any, ...], int] = {}
    for job in jobs:
        limit = batch_limit(job, max_batch)
        if (
            limit <= 1
            or job.chain is not None
            or not job.loaded.batchable
            or not job.arrays
            or job.arrays[0][1].ndim == 0
        ):
            groups.append([job])
            continue
        k = job.merge_key()
        g = open_groups.get(k)
        if g is not None and sizes[k] + job.batch <= limit:
            g.append(job)
            sizes[k] += job.batch
            continue
        g = [job]
        groups.append(g)
        open_groups[k], sizes[k] = g, job.batch
    return groups


def merged_inputs(jobs: list[Job]) -> list[tuple[str, np.ndarray]]:
    names = [n for n, _ in jobs[0].arrays]
    return [(name, np.concatenate([j.arrays[i][1] for j in jobs], axis=0)) for i, name in enumerate(names)]


def split_outputs(jobs: list[Job], outputs: list[np.ndarray]) -> list[list[np.ndarray]] | None:
    """Each job's slice of every output, or None when an output is not batched along dim 0."""
    total = sum(j.batch for j in jobs)
    if any(o.ndim == 0 or o.shape[0] != total for o in outputs):
        return None
    per_job, start = [], 0
    for j in jobs:
        per_job.append([o[start : start + j.batch] for o in outputs])
        start += j.batch
    return per_job


@dataclass
class Stats:
    """Per model: requests, inferences, batch sizes, queue and compute time; logged periodically."""

    every_s: float = 10.0
    since: float = field(default_factory=time.monotonic)
    rows: dict[str, list[float]] = field(default_factory=dict)  # name -> [requests, inferences, queue_s, compute_s]

    def add(self, name: str, requests: int, queue_s: float, compute_s: float) -> None:
        row = self.rows.setdefault(name, [0.0, 0.0, 0.0, 0.0])
        row[0] += requests
        row[1] += 1
        row[2] += queue_s
        row[3] += compute_s

    def maybe_log(self, worker: int) -> None:
        now = time.monotonic()
        if now - self.since < self.every_s:
            return
        for name, (requests, inferences, queue_s, compute_s) in self.rows.items():
            log.info(
                "worker %d %s: %s in %s (mean batch %.2f), mean queue %.2f ms, mean compute %.2f ms per inference",
                worker,
                name,
                count(int(requests), "request"),
                count(int(inferences), "inference"),
                requests / inferences,
                queue_s / requests * 1e3,
                compute_s / inferences * 1e3,
            )
        self.rows.clear()
        self.since = now
