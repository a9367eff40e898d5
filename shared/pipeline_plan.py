"""A validated DAG pipeline as a front runs it: its nodes in an order where each comes after
its sources, each with its model (version 0: the default) or custom node library, its
connections, and the outputs. The supervisor builds it (``ovserve.pipelines``) and sends it in
the routing table; one encoder and one decoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovserve.shared.pipeline_config import ENTRY
from ovserve.shared.signature import Signature


@dataclass(frozen=True, slots=True)
class PlanNode:
    name: str
    model: str
    version: int
    inputs: tuple[tuple[str, str, str], ...]  # (the model's input, source node, source alias)
    outputs: tuple[tuple[str, str], ...]  # (alias, the model's output)
    level: tuple[str, ...] = ()  # the demultiplexers it runs once per shard of (outer first)
    gathers: bool = False  # takes the shards stacked along a new dim 0
    library: str = ""  # a custom node's .so path ("": a model's node)
    params: tuple[tuple[str, str], ...] = ()  # a custom node's params
    signature: Signature | None = None  # a custom node's, from its library's metadata calls

    def encode(self) -> list[Any]:
        custom: list[Any] = []
        if self.library:
            assert self.signature is not None  # a custom node's library was probed
            custom = [self.library, [list(p) for p in self.params], self.signature.to_wire()]
        inputs = [list(i) for i in self.inputs]
        outputs = [list(o) for o in self.outputs]
        return [self.name, self.model, self.version, inputs, outputs, list(self.level), self.gathers, custom]

    @classmethod
    def decode(cls, m: list[Any]) -> PlanNode:
        name, model, version, inputs, outputs, level, gathers, custom = m
        return cls(
            name,
            model,
            int(version),
            tuple((str(a), str(b), str(c)) for a, b, c in inputs),
            tuple((str(a), str(b)) for a, b in outputs),
            tuple(level),
            bool(gathers),
            *_custom(custom),
        )


@dataclass(frozen=True, slots=True)
class PipelinePlan:
    nodes: tuple[PlanNode, ...]
    outputs: tuple[tuple[str, str, str], ...]  # (pipeline output, source node, source alias)
    chain: bool = False  # every node takes tensors only from the request and the node before it
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> its tensors' level
    counts: dict[str, int] = field(default_factory=dict)  # demultiplexer -> its count (-1: dim 0 decides)

    @property
    def models_only(self) -> bool:
        """A chain of model nodes only: one worker may run it whole (``pipeline.fuse``)."""
        return self.chain and all(not n.library for n in self.nodes)

    def encode(self) -> dict[str, Any]:
        return {
            "nodes": [n.encode() for n in self.nodes],
            "outputs": [list(o) for o in self.outputs],
            "levels": {name: list(level) for name, level in self.levels.items()},
            "counts": self.counts,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> PipelinePlan:
        nodes = tuple(PlanNode.decode(n) for n in data["nodes"])
        counts = {str(k): int(v) for k, v in data["counts"].items()}
        outputs = tuple((str(a), str(b), str(c)) for a, b, c in data["outputs"])
        levels = {str(k): tuple(v) for k, v in data["levels"].items()}
        return cls(nodes, outputs, not counts and is_chain(nodes), levels, counts)


def is_chain(nodes: tuple[PlanNode, ...]) -> bool:
    return all(
        all(s in (ENTRY, nodes[i - 1].name if i else ENTRY) for _, s, _ in node.inputs) for i, node in enumerate(nodes)
    )


def _custom(data: list[Any]) -> tuple[str, tuple[tuple[str, str], ...], Signature | None]:
    if not data:
        return "", (), None
    path, params, signature = data
    return path, tuple((k, v) for k, v in params), Signature.from_wire(signature)
