"""Where a DAG pipeline's tensors travel as shards (pipelinedefinition.cpp): after a demultiplexer (the
request, or a node with ``demultiply_count``) each tensor splits along dim 0 and the nodes fed by
shards run once per shard; demultiplexers nest (a node fed by shards demultiplexes again), and a
node with ``gather_from_node`` closes the innermost one (LIFO, as OVMS requires), taking its
shards stacked along a new dim 0. The response gathers whatever is still open, outer first.

A tensor's *level* is the demultiplexers whose shards it is, outer first: ``()`` for a whole one."""

from __future__ import annotations

from ovserve.shared.pipeline_config import ENTRY, NodeConfig, PipelineConfig, Source
from ovserve.shared.signature import Dim, TensorSpec

Level = tuple[str, ...]


class Shards:
    def __init__(self, p: PipelineConfig) -> None:
        self.p = p
        self.nodes = {n.name: n for n in p.nodes}
        self.demuxers = [ENTRY] if p.demultiply_count is not None else []
        self.demuxers += [n.name for n in p.nodes if n.demultiply_count is not None]
        self._levels: dict[str, Level] = {}

    def count(self, demux: str) -> int:
        """A demultiplexer's ``demultiply_count`` (-1: as many as dim 0 has)."""
        count = self.p.demultiply_count if demux == ENTRY else self.nodes[demux].demultiply_count
        assert count is not None
        return count

    def count_dim(self, demux: str) -> Dim:
        count = self.count(demux)
        return (0, -1) if count < 0 else (count, count)

    def sources(self, node: NodeConfig) -> list[str]:
        return [s.node for _, s in node.inputs if s.node == ENTRY or s.node in self.nodes]

    def level(self, source: str) -> Level:
        """The level of the tensors ``source`` (a node, or ``request``) gives other nodes."""
        if source == ENTRY:
            return (ENTRY,) if self.demuxers[:1] == [ENTRY] else ()
        found = self._levels.get(source)
        if found is None:
            self._levels[source] = ()  # a cycle: reported by pipeline_order
            node = self.nodes[source]
            run = self.run_level(node)
            found = self._levels[source] = (*run, source) if node.demultiply_count is not None else run
        return found

    def input_level(self, node: NodeConfig) -> Level:
        """The level of ``node``'s inputs (the deepest of its sources': ``levels_agree`` checks the rest)."""
        return max((self.level(s) for s in self.sources(node)), key=len, default=())

    def levels_agree(self, node: NodeConfig) -> bool:
        """All of ``node``'s inputs are of one level; a gathering node may also take whole
        tensors of the level it runs at."""
        levels = {self.level(s) for s in self.sources(node)}
        deepest = self.input_level(node)
        return levels <= {deepest, deepest[:-1]} if node.gather_from and deepest else len(levels) <= 1

    def run_level(self, node: NodeConfig) -> Level:
        """The level ``node`` runs at: its inputs', less the demultiplexer it gathers."""
        inputs = self.input_level(node)
        if node.gather_from and inputs and inputs[-1] == node.gather_from[0]:
            return inputs[:-1]
        return inputs

    def edge_dims(self, dependent: NodeConfig | None, source: Source, produced: TensorSpec) -> TensorSpec:
        """What ``dependent`` (None: the response) receives of ``produced``: a demultiplexer's
        outputs lose dim 0 (each shard); a gathering node gets its demultiplexer's shards
        stacked along a new dim 0, the response every open level's (outer first)."""
        level = self.level(source.node)
        dims = produced.dims[1:] if level and level[-1] == source.node else produced.dims
        if dependent is None:
            dims = (*(self.count_dim(d) for d in level), *dims)
        elif dependent.gather_from and level:
            dims = (self.count_dim(level[-1]), *dims)
        return TensorSpec(produced.name, produced.element_type, dims, produced.layout)
