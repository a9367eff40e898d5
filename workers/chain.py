"""A DAG pipeline's plain chain of model nodes run inside one worker (``messages.Chain``): each
step fed from the request or an earlier step, its outputs copied out of the infer request (a
later step on the same model would overwrite them) for the steps after it and the pipeline's
outputs. One descriptor and one reply for the whole chain, instead of one per node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from ovserve.shared.messages import REQUEST, Chain, ChainStep

Tensors = list[tuple[str, np.ndarray]]


class StepGone(Exception):
    """A step's model version is no longer loaded here (retired meanwhile)."""

    def __init__(self, step: ChainStep) -> None:
        super().__init__(f"{step.model} version {step.version} is not loaded here")


def run_chain(
    chain: Chain,
    first: Any,
    inputs: Tensors,
    lookup: Callable[[tuple[str, int, int]], Any | None],
    run_step: Callable[[ChainStep, Any, Tensors], list[np.ndarray]],
) -> Tensors:
    """The pipeline's outputs. ``first``: the first step's loaded model (the request's own);
    ``lookup``: a loaded model by (model, version, instance); ``run_step``: one step's inference."""
    tensors: dict[int, dict[str, np.ndarray]] = {REQUEST: dict(inputs)}
    last = len(chain.steps) - 1
    for k, step in enumerate(chain.steps):
        loaded = first if k == 0 else lookup((step.model, step.version, step.instance))
        if loaded is None:
            raise StepGone(step)
        outputs = run_step(step, loaded, [(name, tensors[src][item]) for name, src, item in step.inputs])
        tensors[k] = {
            name: array if k == last else np.array(array)
            for name, array in zip(loaded.output_names, outputs, strict=False)
        }
    return [(name, tensors[src][item]) for name, src, item in chain.returns]
