"""Running a DAG pipeline in a front: every node starts as soon as the nodes it takes tensors
from have answered (independent branches run at once, on whichever workers host their models;
a plain chain runs without a task per node); each node's request is validated against its
model and dispatched like any other; the first failure cancels the rest and is the answer."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.pipeline_config import DEMULTIPLY_LIMIT, ENTRY
from ovserve.shared.pipeline_plan import PipelinePlan, PlanNode
from ovserve.shared.signature import UNDEFINED, Signature

Tensors = list[tuple[str, np.ndarray]]
RunNode = Callable[[PlanNode, Mapping[str, np.ndarray]], Awaitable[Tensors]]  # (the node, its inputs)


async def run_pipeline(plan: PipelinePlan, inputs: Mapping[str, np.ndarray], run_node: RunNode) -> Tensors:
    """The pipeline's outputs, in the order of its definition."""
    return await _Run(plan, inputs, run_node).run()


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


class _Run:
    """One run of a pipeline. With demultiplexers: after each, tensors split along dim 0 into
    shards and the nodes fed by them run once per shard (per index path, when demultiplexers
    nest); a gathering node takes its demultiplexer's shards stacked along a new dim 0, the
    response every level still open. Without, every node runs once (index path ``()``)."""

    def __init__(self, plan: PipelinePlan, inputs: Mapping[str, np.ndarray], run_node: RunNode) -> None:
        self.plan, self.run_node = plan, run_node
        # source -> index path of the level it ran at -> alias -> tensor
        self.results: dict[str, dict[tuple[int, ...], dict[str, np.ndarray]]] = {ENTRY: {(): dict(inputs)}}
        self.n: dict[str, int] = {}  # demultiplexer -> how many shards it made

    def value(self, node: str, item: str, at: tuple[int, ...]) -> np.ndarray:
        """``node``'s tensor at the index path ``at`` of its level; a shorter path: the levels
        beyond it stacked."""
        level = self.plan.levels.get(node, ())
        if len(at) < len(level):
            return np.stack([self.value(node, item, (*at, i)) for i in range(self.n[level[len(at)]])])
        if level and level[-1] == node:  # a demultiplexer's own shards: one of its outputs' dim 0
            return self.results[node][at[:-1]][item][at[-1]]
        return self.results[node][at][item]

    async def node(self, node: PlanNode) -> None:
        def named(answer: Tensors) -> dict[str, np.ndarray]:
            found = dict(answer)
            return {alias: found[real] for alias, real in node.outputs if real in found}

        def feed(at: tuple[int, ...]) -> dict[str, np.ndarray]:
            return {i: self.value(s, a, at) for i, s, a in node.inputs}

        if not node.level:  # runs once: no task to create
            self.results[node.name] = {(): named(await self.run_node(node, feed(())))}
        else:
            paths = list(itertools.product(*(range(self.n[d]) for d in node.level)))
            answers = await asyncio.gather(*(self.run_node(node, feed(at)) for at in paths))
            self.results[node.name] = {at: named(answer) for at, answer in zip(paths, answers, strict=True)}
        if node.name in self.plan.counts:
            for outputs in self.results[node.name].values():
                self._split(node.name, outputs)

    def _split(self, demux: str, tensors: Mapping[str, np.ndarray]) -> None:
        n = shard_count(tensors, self.plan.counts[demux])
        if self.n.setdefault(demux, n) != n:  # a dynamic count must agree across its runs
            raise OvmsError(E.PIPELINE_WRONG_DIMENSION_SIZE_TO_DEMULTIPLY)

    async def run(self) -> Tensors:
        if ENTRY in self.plan.counts:
            self._split(ENTRY, self.results[ENTRY][()])
        if self.plan.chain:  # one node after another: no task per node
            for node in self.plan.nodes:
                await self.node(node)
        else:
            await _as_sources_answer(self.plan, self.node)
        return [(name, self.value(node, item, ())) for name, node, item in self.plan.outputs]


def split_passthrough(
    inputs: Mapping[str, Any], signature: Signature
) -> tuple[dict[str, Any], dict[str, Any], Signature]:
    """(inputs validated against the pipeline's signature, inputs wired straight to the
    response, which have no metadata to check them against, and the signature to check with)."""
    undefined, defined = _defined_inputs(signature)
    if not undefined:
        return dict(inputs), {}, defined
    checked = {k: v for k, v in inputs.items() if k not in undefined}
    return checked, {k: v for k, v in inputs.items() if k in undefined}, defined


@functools.lru_cache(maxsize=256)
def _defined_inputs(signature: Signature) -> tuple[frozenset[str], Signature]:
    """Worked out once per pipeline signature, not per request."""
    undefined = frozenset(t.name for t in signature.inputs if t.element_type == UNDEFINED)
    return undefined, Signature(tuple(t for t in signature.inputs if t.name not in undefined), ())
