"""A validated pipeline's own signature, as OVMS derives it (pipelinedefinition.cpp): an input from the
model inputs it feeds (shape ranges intersected; one fed to nothing but the response has no
metadata), an output from its source node's output with the dims demultiplexing adds or removes."""

from __future__ import annotations

from ovserve.pipeline_shards import Shards
from ovserve.shared.pipeline_config import ENTRY, PipelineConfig
from ovserve.shared.signature import UNDEFINED, Dim, Signature, TensorSpec


class AmbiguousInput(Exception):
    """A pipeline input feeds nodes whose inputs require different metadata."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def intersect(a: Dim, b: Dim) -> Dim | None:
    lo = max(a[0], b[0])
    hi = a[1] if b[1] == -1 else b[1] if a[1] == -1 else min(a[1], b[1])
    return None if hi != -1 and lo > hi else (lo, hi)


def fits(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> bool:
    """The dims "partially fit" (OVMS): same rank, every pair of ranges overlaps."""
    return len(a) == len(b) and all(intersect(x, y) is not None for x, y in zip(a, b, strict=True))


def pipeline_signature(p: PipelineConfig, shards: Shards, signatures: dict[str, Signature]) -> Signature:
    """``signatures``: each node's model or library signature (every connection checked already)."""
    inputs = _inputs(p, shards, signatures)
    by_name = {t.name: t for t in inputs}
    outputs = []
    for name, source in p.outputs:
        if source.node == ENTRY:
            spec = by_name.get(source.item, TensorSpec(source.item, UNDEFINED, ()))
        else:
            node = shards.nodes[source.node]
            real = node.output_of(source.item)
            produced = next(t for t in signatures[node.name].outputs if t.name == real)
            spec = shards.edge_dims(None, source, produced)
        outputs.append(TensorSpec(name, spec.element_type, spec.dims))
    return Signature(inputs, tuple(outputs))


def _inputs(p: PipelineConfig, shards: Shards, signatures: dict[str, Signature]) -> tuple[TensorSpec, ...]:
    specs: list[TensorSpec] = []
    for name in p.inputs:
        uses = [
            next(t for t in signatures[node.name].inputs if t.name == model_input)
            for node in p.nodes
            for model_input, source in node.inputs
            if source.node == ENTRY and source.item == name
        ]
        if not uses:
            if any(s.node == ENTRY and s.item == name for _, s in p.outputs):
                specs.append(TensorSpec(name, UNDEFINED, ()))
            continue  # consumed by nothing: not in metadata, not required (as OVMS)
        dims: list[Dim] | None = list(uses[0].dims)
        for use in uses[1:]:
            if use.element_type != uses[0].element_type or len(use.dims) != len(uses[0].dims):
                raise AmbiguousInput(name)
            merged = [intersect(a, b) for a, b in zip(dims or [], use.dims, strict=True)]
            if any(d is None for d in merged):
                raise AmbiguousInput(name)
            dims = merged  # type: ignore[assignment]
        assert dims is not None
        if ENTRY in shards.demuxers:  # every pipeline input gets the shards' dim in front
            dims = [shards.count_dim(ENTRY), *dims]
        specs.append(TensorSpec(name, uses[0].element_type, tuple(dims), uses[0].layout))
    return tuple(specs)
