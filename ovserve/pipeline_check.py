"""Load-time validation of a DAG pipeline against the models it uses, in OVMS's order with its
status codes and log lines (src/dags/pipelinedefinition.cpp), and the pipeline's own signature as OVMS derives it
(1.5): inputs from the model inputs they feed (ranges intersected), outputs from their source.
A custom node's signature is what its library's metadata calls answered (a probe's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ovserve.custom_libraries import NodeProbe, Params
from ovserve.pipeline_order import PipelineError, node_order
from ovserve.pipeline_shards import Level, Shards
from ovserve.pipeline_signature import AmbiguousInput, fits, pipeline_signature
from ovserve.shared import errors as E
from ovserve.shared.errors import Status
from ovserve.shared.pipeline_config import CUSTOM, ENTRY, EXIT, NodeConfig, PipelineConfig, Source
from ovserve.shared.signature import Signature, TensorSpec, shape_text

SignatureOf = Callable[[str, int], Signature | None]  # (model, version or 0) -> AVAILABLE signature
ProbeOf = Callable[[str, Params], NodeProbe | None]  # (library, node params) -> what the library answered


def _no_libraries(library: str, params: Params) -> NodeProbe | None:
    return None


def _no_auto(model: str) -> bool:
    return False


@dataclass(frozen=True)
class Servables:
    """What pipelines are validated against: the served models and the custom node libraries."""

    model_names: set[str]
    signature_of: SignatureOf
    probe_of: ProbeOf = _no_libraries
    uses_auto: Callable[[str], bool] = _no_auto  # a model configured with batch_size or shape "auto"


@dataclass(frozen=True)
class ValidPipeline:
    signature: Signature
    order: tuple[str, ...]  # the nodes in an order where every node comes after its sources
    levels: dict[str, Level] = field(default_factory=dict)  # "request" and each node: its tensors' level
    runs: dict[str, Level] = field(default_factory=dict)  # each node: the level it runs at
    counts: dict[str, int] = field(default_factory=dict)  # each demultiplexer's count (-1: dim 0 decides)


class _Check:
    def __init__(self, p: PipelineConfig, servables: Servables) -> None:
        self.p = p
        self.servables = servables
        self.nodes = {n.name: n for n in p.nodes}
        self.signatures: dict[str, Signature] = {}
        self.sh = Shards(p)

    def fail(self, status: Status, text: str) -> PipelineError:
        return PipelineError(status, text)

    def invalid(self, status: Status, text: str) -> PipelineError:
        """OVMS's log line of a failed connection check."""
        return PipelineError(status, f"Validation of pipeline: {self.p.name} definition failed. {text}")

    def run(self) -> ValidPipeline:
        p = self.p
        if p.name in self.servables.model_names:
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
        demuxers = self.sh.demuxers
        if len(demuxers) > 1 and any(self.sh.count(d) < 0 for d in demuxers):
            text = f"PipelineDefinition: {p.name} has multiple demultiplexers with at least one dynamic."
            raise self.fail(E.NOT_IMPLEMENTED, text)
        for node in p.nodes:
            for gathered in node.gather_from:
                if gathered not in self.nodes:
                    raise self.fail(
                        E.PIPELINE_NODE_GATHER_FROM_NOT_EXISTING_NODE, f"Node: {node.name} gathers from {gathered}"
                    )
                if gathered not in demuxers:
                    raise self.fail(
                        E.PIPELINE_NODE_GATHER_FROM_NOT_DEMULTIPLEXER, f"Node: {node.name} gathers from {gathered}"
                    )
        for node in p.nodes:
            self.check_node(node)
        self.check_response()
        order = node_order(p)
        try:
            signature = pipeline_signature(p, self.sh, self.signatures)
        except AmbiguousInput as exc:
            raise self.invalid(
                E.PIPELINE_INPUTS_AMBIGUOUS_METADATA,
                f"Pipeline input: {exc.name} is connected to nodes that require different tensor metadata",
            ) from exc
        levels = {name: self.sh.level(name) for name in [ENTRY, *self.nodes]}
        runs = {n.name: self.sh.run_level(n) for n in p.nodes}
        return ValidPipeline(signature, order, levels, runs, {d: self.sh.count(d) for d in demuxers})

    def check_libraries(self) -> None:
        """Each custom node's library opened, initialized with the node's params and answered
        its metadata calls (OVMS's second check); its signature is that metadata."""
        for node in self.p.nodes:
            if node.kind != CUSTOM:
                continue
            probe = self.servables.probe_of(node.library, node.params)
            if probe is None:
                raise self.fail(
                    E.PIPELINE_DEFINITION_INVALID_NODE_LIBRARY,
                    f"Pipeline: {self.p.name} node: {node.name} refers to invalid library",
                )
            if probe.status is not None or probe.signature is None:
                raise self.fail(probe.status or E.NODE_LIBRARY_METADATA_FAILED, probe.log_line)
            self.signatures[node.name] = probe.signature

    def strings_demultiplied(self, node: str) -> PipelineError:
        return self.invalid(
            E.PIPELINE_STRING_DEMUILTIPLICATION_UNSUPPORTED,
            f"Demultiplication of strings in unsupported. Node name: {node}",
        )

    def check_demultiplexer(self, node: NodeConfig) -> None:
        signature = self.signatures[node.name]
        for alias, real in node.outputs:
            spec = next((t for t in signature.outputs if t.name == real), None)
            if spec is None:
                continue  # reported where an alias is used
            if spec.element_type == "string":
                raise self.strings_demultiplied(node.name)
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
        found = self.signatures.get(node.name)
        if found is not None:
            return found
        found = self.servables.signature_of(node.model, node.version)
        if found is None:
            raise self.invalid(
                E.PIPELINE_NODE_REFERING_TO_MISSING_MODEL, f"Missing model: {node.model}; version: {node.version}"
            )
        if self.servables.uses_auto(node.model):
            raise self.invalid(
                E.FORBIDDEN_MODEL_DYNAMIC_PARAMETER,
                f"Node name: {node.name} used model name: {node.model} with batch/shape parameter set to 'auto' which "
                "is forbidden. Use dynamic shape.",
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
            if source.node == ENTRY and ENTRY in self.sh.demuxers and inputs[model_input].element_type == "string":
                raise self.strings_demultiplied(ENTRY)
            produced = self.source_spec(node.name, source)
            if produced is not None:
                self.check_match(node.name, inputs[model_input], source, self.sh.edge_dims(node, source, produced))
        if not self.sh.levels_agree(node):
            raise self.fail(
                E.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER,
                f"In pipeline: {self.p.name} node: {node.name} takes shards of different demultiplexers",
            )
        level = self.sh.input_level(node)
        if node.gather_from and (not level or level[-1] != node.gather_from[0]):
            innermost = level[-1] if level else "none"
            raise self.fail(
                E.PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER,
                f"In pipeline: {self.p.name} exists path that doesn't gather from demultiplexer node: {innermost}, "
                f"connection to node: {node.name}.",
            )
        if node.demultiply_count is not None:
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
        if produced.element_type == "string":
            raise self.invalid(
                E.NOT_IMPLEMENTED,
                f"Connecting models with string precision is unsupported. Dependent node: {node}; input: "
                f"{wanted.name} vs dependency node: {source.node}; output: {produced.name}",
            )
        if not fits(wanted.dims, produced.dims):
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


def validate_pipeline(p: PipelineConfig, servables: Servables) -> ValidPipeline:
    """The pipeline's signature and node order, or ``PipelineError`` with OVMS's status and log line."""
    return _Check(p, servables).run()
