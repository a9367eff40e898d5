"""A plain chain of model nodes sent to one worker as one request (``messages.Chain``): the
worker runs the nodes one after another and answers the pipeline's outputs, so an extra node
costs one inference instead of a full dispatch (descriptor, reply, validation) in the front.

Only where nothing has to be checked between the nodes: every edge carries a tensor of static
shape that the next model takes as it is (checked once per set of versions), and one worker
hosts every node's version. Anything else runs node by node."""

from __future__ import annotations

from dataclasses import dataclass

from ovserve.frontend.table import VersionEntry
from ovserve.shared.messages import REQUEST, Chain, ChainStep, Source
from ovserve.shared.pipeline_config import ENTRY
from ovserve.shared.pipeline_plan import PipelinePlan
from ovserve.shared.signature import Signature, TensorSpec, dim_matches


@dataclass(frozen=True, slots=True)
class Fused:
    chain: Chain
    outputs: Signature  # the pipeline's: what the reply's reservation is sized for
    workers: list[int]  # those hosting every node's version


def fuse(plan: PipelinePlan, entries: list[VersionEntry], signature: Signature) -> Fused | None:
    """The chain as one request, or None when it has to run node by node. ``entries``: the
    nodes' versions (AVAILABLE), in the plan's order."""
    index = {node.name: k for k, node in enumerate(plan.nodes)}
    steps: list[ChainStep] = []
    for node, entry in zip(plan.nodes, entries, strict=True):
        assert entry.signature is not None
        wanted = {t.name: t for t in entry.signature.inputs}
        sources: list[Source] = []
        for model_input, src, alias in node.inputs:
            if src == ENTRY:
                sources.append((model_input, REQUEST, alias))
                continue
            j = index[src]
            real = dict(plan.nodes[j].outputs)[alias]
            produced = _output(entries[j], real)
            if produced is None or not _fits_as_is(produced, wanted[model_input]):
                return None
            sources.append((model_input, j, real))
        steps.append(ChainStep(node.model, entry.version, entry.instance, sources))
    returns: list[Source] = [
        (name, REQUEST, alias) if src == ENTRY else (name, index[src], dict(plan.nodes[index[src]].outputs)[alias])
        for name, src, alias in plan.outputs
    ]
    workers = [w for w in entries[0].workers if all(w in e.workers for e in entries[1:])]
    return Fused(Chain(steps, returns), signature, workers) if workers else None


def _output(entry: VersionEntry, name: str) -> TensorSpec | None:
    assert entry.signature is not None
    return next((t for t in entry.signature.outputs if t.name == name), None)


def _fits_as_is(produced: TensorSpec, wanted: TensorSpec) -> bool:
    return (
        produced.element_type == wanted.element_type
        and len(produced.dims) == len(wanted.dims)
        and all(lo == hi and dim_matches(w, lo) for (lo, hi), w in zip(produced.dims, wanted.dims, strict=True))
    )
