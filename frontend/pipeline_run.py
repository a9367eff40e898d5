"""Running a DAG pipeline in a front: every node starts as soon as the nodes it takes tensors
from have answered (independent branches run at once, on whichever workers host their models;
a plain chain runs without a task per node); each node's request is validated against its
model and dispatched like any other; the first failure cancels the rest and is the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
from ovserve.frontend.pipeline_plan import ENTRY, PipelinePlan, PlanNode

Tensors = list[tuple[str, np.ndarray]]
RunNode = Callable[[str, int, Mapping[str, np.ndarray]], Awaitable[Tensors]]  # (model, version, inputs)


async def run_pipeline(plan: PipelinePlan, inputs: Mapping[str, np.ndarray], run_node: RunNode) -> Tensors:
    """The pipeline's outputs, in the order of its definition."""
    results: dict[str, dict[str, np.ndarray]] = {}

    def source(node: str, item: str) -> np.ndarray:
        return inputs[item] if node == ENTRY else results[node][item]

    async def run(node: PlanNode) -> None:
        answer = dict(await run_node(node.model, node.version, {i: source(s, a) for i, s, a in node.inputs}))
        results[node.name] = {alias: answer[real] for alias, real in node.outputs if real in answer}

    if plan.chain:  # one node after another: no task to create
        for node in plan.nodes:
            await run(node)
    else:
        await _as_sources_answer(plan, run)
    return [(name, source(node, item)) for name, node, item in plan.outputs]


async def _as_sources_answer(plan: PipelinePlan, run: Callable[[PlanNode], Awaitable[None]]) -> None:
    """Each node as soon as the nodes it takes tensors from have answered."""
    tasks: dict[str, asyncio.Task[None]] = {}

    async def when_ready(node: PlanNode) -> None:
        deps = {src for _, src, _ in node.inputs if src != ENTRY}
        if deps:
            await asyncio.gather(*(tasks[d] for d in deps))
        await run(node)

    for node in plan.nodes:  # sources come first: every task a node waits for exists
        tasks[node.name] = asyncio.ensure_future(when_ready(node))
    try:
        await asyncio.gather(*tasks.values())
    except BaseException:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise


def split_passthrough(inputs: Mapping[str, Any], undefined: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs validated against the pipeline's signature, inputs wired straight to the
    response, which have no metadata to check them against)."""
    checked = {k: v for k, v in inputs.items() if k not in undefined}
    return checked, {k: v for k, v in inputs.items() if k in undefined}
