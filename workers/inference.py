"""A worker's inferences: a group of jobs as one OpenVINO inference when their outputs split back
along the batch (else one each), a pipeline's chain node after node, each inference counted in
the logged statistics and the metrics; a failure answers its jobs with OVMS's inference error."""

from __future__ import annotations

import logging
import time
from typing import Any

from ovserve.shared.errors import MODEL_VERSION_NOT_LOADED_ANYMORE, OV_INTERNAL_INFERENCE_ERROR
from ovserve.shared.messages import ChainStep
from ovserve.workers.batcher import Job, Stats, merged_inputs, split_outputs
from ovserve.workers.chain import StepGone, run_chain
from ovserve.workers.job_reader import error_result
from ovserve.workers.metrics import WorkerMetrics
from ovserve.workers.served_versions import ServedVersions
from ovserve.workers.tensors import result_message

log = logging.getLogger("ovserve.worker")


class Inference:
    def __init__(self, host: Any, versions: ServedVersions, stats: Stats, metrics: WorkerMetrics) -> None:
        self.host = host  # workers.model_host (imports openvino)
        self.versions = versions
        self.stats = stats
        self.metrics = metrics

    def run(self, jobs: list[Job]) -> list[list[Any]]:
        """One inference for the group (or one each, when outputs cannot be split back)."""
        if jobs[0].chain is not None:
            return [self._run_chain(jobs[0])]  # a chain is always a group of its own
        started = time.time()
        name = jobs[0].loaded.label
        slot = jobs[0].loaded.slot
        self.metrics.begin(slot)
        try:
            if len(jobs) > 1:
                outputs = self.host.infer(jobs[0].loaded, merged_inputs(jobs))
                per_job = split_outputs(jobs, outputs)
                if per_job is not None:
                    replies = [result_message(j, outs) for j, outs in zip(jobs, per_job, strict=True)]
                    self._account(name, slot, jobs, started)
                    return replies
            replies = []
            for job in jobs:
                t0 = time.time()
                replies.append(result_message(job, self.host.infer(job.loaded, job.arrays)))
                self._account(name, slot, [job], t0)
            return replies
        except Exception as exc:
            return self._failed(jobs, name, exc)
        finally:
            self.metrics.end(slot)

    def _run_chain(self, job: Job) -> list[Any]:
        """A pipeline's chain of nodes, one inference after another; each counts for its model."""

        def step(s: ChainStep, loaded: Any, inputs: list[tuple[str, Any]]) -> list[Any]:
            started = time.time()
            self.metrics.begin(loaded.slot)
            try:
                outputs = self.host.infer(loaded, inputs)
            finally:
                self.metrics.end(loaded.slot)
            self._account(loaded.label, loaded.slot, [job], started)
            return outputs

        try:
            outputs = run_chain(job.chain, job.loaded, job.arrays, self.versions.find, step)
        except StepGone:
            return error_result(job.rid, MODEL_VERSION_NOT_LOADED_ANYMORE)
        except Exception as exc:
            return self._failed([job], f"pipeline chain from {job.key[0]}", exc)[0]
        return result_message(job, [array for _, array in outputs], [name for name, _ in outputs])

    def _failed(self, jobs: list[Job], what: str, exc: Exception) -> list[list[Any]]:
        log.error("inference on %s failed: %s", what, exc)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return [error_result(j.rid, OV_INTERNAL_INFERENCE_ERROR, detail) for j in jobs]

    def _account(self, name: str, slot: int, jobs: list[Job], started: float) -> None:
        """One inference that served ``jobs``: into the logged stats and the metrics."""
        compute_s = time.time() - started
        queued = [started - j.sent for j in jobs]
        self.stats.add(name, len(jobs), sum(queued), compute_s)
        self.metrics.inference(slot, queued, compute_s)
