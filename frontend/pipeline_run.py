"""Running a DAG pipeline in a front: every node starts as soon as the nodes it takes tensors
from have answered (independent branches run at once, on whichever workers host their models;
a plain chain runs without a task per node); each node's request is validated against its
model and dispatched like any other; the first failure cancels the rest and is the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
from ovserve.frontend.pipeline_plan import PipelinePlan, PlanNode
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.pipeline_config import DEMULTIPLY_LIMIT, ENTRY

Tensors = list[tuple[str, np.ndarray]]
RunNode = Callable[[PlanNode, Mapping[str, np.ndarray]], Awaitable[Tensors]]  # (the node, its inputs)


async def run_pipeline(plan: PipelinePlan, inputs: Mapping[str, np.ndarray], run_node: RunNode) -> Tensors:
    """The pipeline's outputs, in the order of its definition."""
    if plan.demux is not None:
        return await _Sharded(plan, inputs, run_node).run()
    results: dict[str, dict[str, np.ndarray]] = {}

    def source(node: str, item: str) -> np.ndarray:
        return inputs[item] if node == ENTRY else results[node][item]

    async def run(node: PlanNode) -> None:
        answer = dict(await run_node(node, {i: source(s, a) for i, s, a in node.inputs}))
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


def shard_count(tensors: Mapping[str, np.ndarray], count: int | None) -> int:
    """How many shards a demultiplexer's tensors split into (their dim 0), with OVMS's errors."""
    counts = set()
    for array in tensors.values():
        if array.ndim < 3:
            raise OvmsError(E.PIPELINE_WRONG_NUMBER_OF_DIMENSIONS_TO_DEMULTIPLY)
        counts.add(array.shape[0])
    n = counts.pop() if len(counts) == 1 else -1
    if n > DEMULTIPLY_LIMIT:
        raise OvmsError(E.PIPELINE_TOO_LARGE_DIMENSION_SIZE_TO_DEMULTIPLY)
    if n == 0 and not counts:
        raise OvmsError(E.PIPELINE_DEMULTIPLEXER_NO_RESULTS)
    if n < 1 or counts or (count is not None and count > 0 and n != count):
        raise OvmsError(E.PIPELINE_WRONG_DIMENSION_SIZE_TO_DEMULTIPLY)
    return n


class _Sharded:
    """A pipeline with a demultiplexer: its tensors split along dim 0 into shards, the nodes
    after it run once per shard, a gathering node (or the response) takes the shards stacked
    along a new dim 0."""

    def __init__(self, plan: PipelinePlan, inputs: Mapping[str, np.ndarray], run_node: RunNode) -> None:
        self.plan, self.inputs, self.run_node = plan, inputs, run_node
        self.whole: dict[str, dict[str, np.ndarray]] = {}  # node -> alias -> tensor (nodes run once)
        self.shards: dict[str, list[dict[str, np.ndarray]]] = {}  # per-shard nodes: one dict per shard
        self.n = 0

    def value(self, node: str, item: str, shard: int | None) -> np.ndarray:
        """A source's tensor: one shard of it (``shard``), or the shards stacked (None)."""
        plan = self.plan
        if node not in plan.shard_sources:
            return self.inputs[item] if node == ENTRY else self.whole[node][item]
        if node == plan.demux:
            whole = self.inputs[item] if node == ENTRY else self.whole[node][item]
            return whole if shard is None else whole[shard]
        if shard is None:
            return np.stack([part[item] for part in self.shards[node]])
        return self.shards[node][shard][item]

    async def node(self, node: PlanNode) -> None:
        def feed(shard: int | None) -> dict[str, np.ndarray]:
            return {i: self.value(s, a, shard) for i, s, a in node.inputs}

        def named(answer: Tensors) -> dict[str, np.ndarray]:
            found = dict(answer)
            return {alias: found[real] for alias, real in node.outputs if real in found}

        if node.per_shard:
            answers = await asyncio.gather(*(self.run_node(node, feed(i)) for i in range(self.n)))
            self.shards[node.name] = [named(a) for a in answers]
            return
        self.whole[node.name] = named(await self.run_node(node, feed(None)))
        if node.name == self.plan.demux:
            self.n = shard_count(self.whole[node.name], self.plan.count)

    async def run(self) -> Tensors:
        plan = self.plan
        if plan.demux == ENTRY:
            self.n = shard_count(self.inputs, plan.count)
        await _as_sources_answer(plan, self.node)
        return [(name, self.value(node, item, None)) for name, node, item in plan.outputs]


def split_passthrough(inputs: Mapping[str, Any], undefined: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs validated against the pipeline's signature, inputs wired straight to the
    response, which have no metadata to check them against)."""
    checked = {k: v for k, v in inputs.items() if k not in undefined}
    return checked, {k: v for k, v in inputs.items() if k in undefined}
