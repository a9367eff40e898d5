"""Where a DAG pipeline's tensors travel as shards (wave2.md 1.5): after its demultiplexer (the
request, or a node with ``demultiply_count``) each tensor splits along dim 0, the nodes fed by
shards run once per shard, and a node with ``gather_from_node`` (or the response) takes them
stacked along a new dim 0. One demultiplexer per pipeline."""

from __future__ import annotations

from ovserve.shared.pipeline_config import ENTRY, NodeConfig, PipelineConfig, Source
from ovserve.shared.signature import Dim, TensorSpec


class Shards:
    def __init__(self, p: PipelineConfig, demux: str | None) -> None:
        self.p = p
        self.nodes = {n.name: n for n in p.nodes}
        self.demux = demux  # ENTRY, a node's name, or None
        self._per_shard: dict[str, bool] = {}

    @property
    def count(self) -> int | None:
        """The demultiplexer's count (-1: dynamic), or None without one."""
        if self.demux == ENTRY:
            return self.p.demultiply_count
        return self.nodes[self.demux].demultiply_count if self.demux else None

    def count_dim(self) -> Dim:
        count = self.count
        return (0, -1) if count is None or count < 0 else (count, count)

    def shards(self, node: str) -> bool:
        """Whether tensors from ``node`` (``request`` included) arrive as shards."""
        if node == ENTRY:
            return self.demux == ENTRY
        return node == self.demux or self.per_shard(self.nodes[node])

    def per_shard(self, node: NodeConfig) -> bool:
        """Whether ``node`` runs once per shard (fed shards and gathering none)."""
        found = self._per_shard.get(node.name)
        if found is None:
            self._per_shard[node.name] = False  # a cycle: reported by check_cycles
            found = not node.gather_from and any(
                self.shards(s.node) for _, s in node.inputs if s.node == ENTRY or s.node in self.nodes
            )
            self._per_shard[node.name] = found
        return found

    def edge_dims(self, dependent: NodeConfig | None, source: Source, produced: TensorSpec) -> TensorSpec:
        """What ``dependent`` (None: the response) receives of ``produced``: a demultiplexer's
        outputs lose dim 0 (each shard), a gathering node or the response gets the shards
        stacked along a new dim 0."""
        dims = produced.dims[1:] if source.node == self.demux else produced.dims
        gathers = dependent is None or bool(dependent.gather_from)
        if gathers and self.shards(source.node):
            dims = (self.count_dim(), *dims)
        return TensorSpec(produced.name, produced.element_type, dims, produced.layout)
