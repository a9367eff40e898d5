"""Load-time validation of a DAG pipeline against the models it uses, in OVMS's order with its
status codes and log lines (wave2.md 1.2), and the pipeline's own signature as OVMS derives it
(1.5): inputs from the model inputs they feed (ranges intersected), outputs from their source.
A custom node's signature is what its library's metadata calls answered (a probe's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ovserve.custom_libraries import NodeProbe, Params
from ovserve.pipeline_shards import Shards
from ovserve.shared import errors as E
from ovserve.shared.errors import Status
from ovserve.shared.pipeline_config import CUSTOM, ENTRY, EXIT, NodeConfig, PipelineConfig, Source
from ovserve.shared.signature import UNDEFINED, Dim, Signature, TensorSpec, shape_text

SignatureOf = Callable[[str, int], Signature | None]  # (model, version or 0) -> AVAILABLE signature
ProbeOf = Callable[[str, Params], NodeProbe | None]  # (library, node params) -> what the library answered


def _no_libraries(library: str, params: Params) -> NodeProbe | None:
    return None


class PipelineError(Exception):
    def __init__(self, status: Status, log_line: str) -> None:
        super().__init__(log_line)
        self.status = status
        self.log_line = log_line


@dataclass(frozen=True)
class ValidPipeline:
    signature: Signature
    order: tuple[str, ...]  # the nodes in an order where every node comes after its sources
    demux: str | None = None  # "request", a node, or None: where tensors split into shards
    count: int | None = None  # its demultiply_count (-1: as many as dim 0 has)
    per_shard: frozenset[str] = frozenset()  # nodes that run once per shard
    shard_sources: frozenset[str] = frozenset()  # nodes (and "request") whose tensors arrive as shards


def _intersect(a: Dim, b: Dim) -> Dim | None:
    lo = max(a[0], b[0])
    hi = a[1] if b[1] == -1 else b[1] if a[1] == -1 else min(a[1], b[1])
    return None if hi != -1 and lo > hi else (lo, hi)


def _fits(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> bool:
    return len(a) == len(b) and all(_intersect(x, y) is not None for x, y in zip(a, b, strict=True))


class _Check:
    def __init__(self, p: PipelineConfig, signature_of: SignatureOf, probe_of: ProbeOf) -> None:
        self.p = p
        self.probe_of = probe_of
        self.nodes = {n.name: n for n in p.nodes}
        self.signatures: dict[str, Signature] = {}
        self.signature_of = signature_of
        self.sh = Shards(p, None)

    def fail(self, status: Status, text: str) -> PipelineError:
        return PipelineError(status, text)

    def invalid(self, status: Status, text: str) -> PipelineError:
        """OVMS's log line of a failed connection check."""
        return PipelineError(status, f"Validation of pipeline: {self.p.name} definition failed. {text}")

    def run(self, model_names: set[str]) -> ValidPipeline:
        p = self.p
        if p.name in model_names:
            raise self.fail(
                E.PIPELINE_NAME_OCCUPIED, f"Pipeline name: {p.name} is already occupied by model or mediapipe graph."
            )
        self.check_libraries()
        seen: set[str] = set()
        for node in p.nodes:
            if node.name in seen or node.name in (ENTRY, EXIT):
                raise self.fail(
                    E.PIPELINE_NODE_NAME_DUPLICATE,
                    f"PipelineDefinition: {p.name} has multiple nodes with name: {node.name}",
                )
            seen.add(node.name)
        demuxers = [ENTRY] if p.demultiply_count is not None else []
        demuxers += [n.name for n in p.nodes if n.demultiply_count is not None]
        if len(demuxers) > 1:
            text = f"Pipeline: {p.name} has more than one demultiplexer: not implemented yet"
            raise self.fail(E.NOT_IMPLEMENTED, text)
        self.sh = Shards(p, demuxers[0] if demuxers else None)
        for node in p.nodes:
            for gathered in node.gather_from:
                if gathered not in self.nodes:
                    raise self.fail(
                        E.PIPELINE_NODE_GATHER_FROM_NOT_EXISTING_NODE, f"Node: {node.name} gathers from {gathered}"
                    )
                if gathered != self.sh.demux:
                    raise self.fail(
                        E.PIPELINE_NODE_GATHER_FROM_NOT_DEMULTIPLEXER, f"Node: {node.name} gathers from {gathered}"
                    )
        for node in p.nodes:
            self.check_node(node)
        self.check_response()
        order = self.check_cycles()
        signature = Signature(self.pipeline_inputs(), self.pipeline_outputs())
        per_shard = frozenset(n.name for n in p.nodes if self.sh.per_shard(n))
        sources = frozenset(name for name in [ENTRY, *self.nodes] if self.sh.shards(name))
        return ValidPipeline(signature, order, self.sh.demux, self.sh.count, per_shard, sources)

    def check_libraries(self) -> None:
        """Each custom node's library opened, initialized with the node's params and answered
        its metadata calls (OVMS's second check); its signature is that metadata."""
        for node in self.p.nodes:
            if node.kind != CUSTOM:
                continue
            probe = self.probe_of(node.library, node.params)
            if probe is None:
                raise self.fail(
                    E.PIPELINE_DEFINITION_INVALID_NODE_LIBRARY,
                    f"Pipeline: {self.p.name} node: {node.name} refers to invalid library",
                )
            if probe.status is not None or probe.signature is None:
                raise self.fail(probe.status or E.NODE_LIBRARY_METADATA_FAILED, probe.log_line)
            self.signatures[node.name] = probe.signature

    def check_demultiplexer(self, node: NodeConfig) -> None:
        signature = self.signatures[node.name]
        for alias, real in node.outputs:
            spec = next((t for t in signature.outputs if t.name == real), None)
            if spec is None:
                continue  # reported where an alias is used
            if len(spec.dims) < 3:
                raise self.invalid(
                    E.PIPELINE_NOT_ENOUGH_SHAPE_DIMENSIONS_TO_DEMULTIPLY,
                    f"Node: {node.name} demultiply cannot occur due to not enough shape dimensions: {len(spec.dims)}",
                )
            count, (lo, hi) = node.demultiply_count, spec.dims[0]
            if count is not None and count > 0 and lo == hi and lo != count:
                raise self.invalid(
                    E.PIPELINE_DEMULTIPLY_COUNT_DOES_NOT_MATCH_TENSOR_SHARD_COUNT,
                    f"Node: {node.name} output: {alias} has dim 0 {lo} and demultiply_count {count}",
                )

    def signature(self, node: NodeConfig) -> Signature:
        """The signature of ``node``'s model (looked up once), or OVMS's missing-model error."""
        found = self.signatures.get(node.name) or self.signature_of(node.model, node.version)
        if found is None:
            raise self.invalid(
                E.PIPELINE_NODE_REFERING_TO_MISSING_MODEL, f"Missing model: {node.model}; version: {node.version}"
            )
        self.signatures[node.name] = found
        return found

    def check_node(self, node: NodeConfig) -> None:
        signature = self.signature(node)
        inputs = {t.name: t for t in signature.inputs}
        connected: set[str] = set()
        for model_input, source in node.inputs:
            self.check_source(node.name, source)
            if model_input not in inputs:
                raise self.invalid(
                    E.PIPELINE_CONNECTION_TO_MISSING_MODEL_INPUT,
                    f"Node: {node.name} has no input with name: {model_input}",
                )
            if model_input in connected:
                raise self.invalid(
                    E.PIPELINE_MODEL_INPUT_CONNECTED_TO_MULTIPLE_DATA_SOURCES,
                    f"Node: {node.name} input: {model_input} is connected to multiple data sources",
                )
            connected.add(model_input)
            produced = self.source_spec(node.name, source)
            if produced is not None:
                self.check_match(node.name, inputs[model_input], source, self.sh.edge_dims(node, source, produced))
        sources = [s.node for _, s in node.inputs if s.node == ENTRY or s.node in self.nodes]
        if not node.gather_from and len({self.sh.shards(src) for src in sources}) > 1:
            raise self.fail(
                E.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER,
                f"In pipeline: {self.p.name} node: {node.name} takes both shards and whole tensors",
            )
        if node.gather_from and not any(self.sh.shards(src) for src in sources):
            raise self.fail(
                E.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER,
                f"In pipeline: {self.p.name} node: {node.name} gathers from {node.gather_from[0]} but takes no shards",
            )
        if node.name == self.sh.demux:
            self.check_demultiplexer(node)
        missing = sorted(set(inputs) - connected)
        if missing:
            raise self.invalid(
                E.PIPELINE_NOT_ALL_INPUTS_CONNECTED,
                f"Node: {node.name} has inputs:: {', '.join(missing)} not connected to any source",
            )

    def check_source(self, dependent: str, source: Source) -> None:
        p = self.p
        if source.node == EXIT:
            raise self.invalid(E.PIPELINE_EXIT_USED_AS_NODE_DEPENDENCY, "Exit node used as dependency node")
        if source.node != ENTRY and source.node not in self.nodes:
            raise self.invalid(
                E.PIPELINE_NODE_REFERING_TO_MISSING_NODE,
                f"Node (name: {dependent}) is connected to missing dependency node (name: {source.node})",
            )
        known = source.item in p.inputs if source.node == ENTRY else self.nodes[source.node].output_of(source.item)
        if not known:
            raise self.invalid(
                E.PIPELINE_NODE_REFERING_TO_MISSING_DATA_SOURCE,
                f"Missing dependency node: {source.node} data item: {source.item} for dependent node: {dependent}",
            )

    def source_spec(self, dependent: str, source: Source) -> TensorSpec | None:
        """The spec of what ``source`` produces (None: a pipeline input, fixed by its uses)."""
        if source.node == ENTRY:
            return None
        node = self.nodes[source.node]
        real = node.output_of(source.item)
        spec = next((t for t in self.signature(node).outputs if t.name == real), None)
        if spec is None:
            raise self.invalid(
                E.PIPELINE_NODE_REFERING_TO_MISSING_MODEL_OUTPUT,
                f"Missing model output: {real} of node: {node.name} for dependent node: {dependent}",
            )
        return spec

    def check_match(self, node: str, wanted: TensorSpec, source: Source, produced: TensorSpec) -> None:
        if not _fits(wanted.dims, produced.dims):
            raise self.invalid(
                E.INVALID_SHAPE,
                f"Shape mismatch between: dependent node: {node}; input: {wanted.name}; shape: "
                f"{shape_text(list(wanted.dims))} vs dependency node: {source.node}; output: {produced.name}; shape: "
                f"{shape_text(list(produced.dims))}",
            )
        if wanted.element_type != produced.element_type:
            raise self.invalid(
                E.INVALID_PRECISION,
                f"Precision mismatch between: dependent node: {node}; input: {wanted.name}; precision: "
                f"{wanted.element_type} vs dependency node: {source.node}; output: {produced.name}; precision: "
                f"{produced.element_type}",
            )

    def check_response(self) -> None:
        for _name, source in self.p.outputs:
            self.check_source(EXIT, source)
            self.source_spec(EXIT, source)

    def check_cycles(self) -> tuple[str, ...]:
        """A topological order of the nodes; a cycle or a node the response does not reach fails."""
        deps = {n.name: {s.node for _, s in n.inputs if s.node != ENTRY} for n in self.p.nodes}
        for name, sources in deps.items():
            if name in sources:
                raise self.fail(
                    E.PIPELINE_CYCLE_FOUND, f"Node: {name} is connected to itself in pipeline: {self.p.name}"
                )
        order: list[str] = []
        state: dict[str, int] = {}  # 1: on the path, 2: done

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = path[path.index(name) :]
                raise self.fail(
                    E.PIPELINE_CYCLE_FOUND,
                    f"In pipeline: {self.p.name}, following nodes creates cycle: {', '.join(cycle)}",
                )
            state[name] = 1
            for dep in sorted(deps[name]):
                visit(dep, [*path, dep])
            state[name] = 2
            order.append(name)

        for node in self.p.nodes:
            visit(node.name, [node.name])
        reached: set[str] = set()
        todo = [s.node for _, s in self.p.outputs if s.node != ENTRY]
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo += deps[name]
        if reached != set(deps):
            raise self.fail(
                E.PIPELINE_CONTAINS_UNCONNECTED_NODES, f"In pipeline: {self.p.name}, there are not connected nodes"
            )
        return tuple(order)

    def pipeline_inputs(self) -> tuple[TensorSpec, ...]:
        specs: list[TensorSpec] = []
        for name in self.p.inputs:
            uses = [
                self.signatures[node.name].inputs[
                    [t.name for t in self.signatures[node.name].inputs].index(model_input)
                ]
                for node in self.p.nodes
                for model_input, source in node.inputs
                if source.node == ENTRY and source.item == name
            ]
            to_response = any(s.node == ENTRY and s.item == name for _, s in self.p.outputs)
            if not uses:
                if to_response:
                    specs.append(TensorSpec(name, UNDEFINED, ()))
                continue  # consumed by nothing: not in metadata, not required (as OVMS)
            dims: list[Dim] | None = list(uses[0].dims)
            for use in uses[1:]:
                if use.element_type != uses[0].element_type or len(use.dims) != len(uses[0].dims):
                    dims = None
                    break
                merged = [_intersect(a, b) for a, b in zip(dims or [], use.dims, strict=True)]
                dims = None if any(d is None for d in merged) else merged  # type: ignore[misc]
                if dims is None:
                    break
            if dims is None:
                raise self.invalid(
                    E.PIPELINE_INPUTS_AMBIGUOUS_METADATA,
                    f"Pipeline input: {name} is connected to nodes that require different tensor metadata",
                )
            if self.sh.demux == ENTRY:  # every pipeline input gets the shards' dim in front
                dims = [self.sh.count_dim(), *dims]
            specs.append(TensorSpec(name, uses[0].element_type, tuple(dims), uses[0].layout))
        return tuple(specs)

    def pipeline_outputs(self) -> tuple[TensorSpec, ...]:
        inputs = {t.name: t for t in self.pipeline_inputs()}
        specs = []
        for name, source in self.p.outputs:
            if source.node == ENTRY:
                spec = inputs.get(source.item, TensorSpec(source.item, UNDEFINED, ()))
            else:
                produced = self.source_spec(EXIT, source)
                assert produced is not None
                spec = self.sh.edge_dims(None, source, produced)
            specs.append(TensorSpec(name, spec.element_type, spec.dims))
        return tuple(specs)


def validate_pipeline(
    p: PipelineConfig, model_names: set[str], signature_of: SignatureOf, probe_of: ProbeOf = _no_libraries
) -> ValidPipeline:
    """The pipeline's signature and node order, or ``PipelineError`` with OVMS's status and log line."""
    return _Check(p, signature_of, probe_of).run(model_names)
