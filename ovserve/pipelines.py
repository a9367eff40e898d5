"""The supervisor's DAG pipelines: their definitions from the config, their states as OVMS
reports them (src/dags/pipelinedefinitionstatus.hpp: LOADING/OK before the first validation, AVAILABLE, LOADING/
FAILED_PRECONDITION when validation failed, END once removed from the config: never deleted),
re-validated whenever the models they use may have changed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ovserve.custom_libraries import CustomLibraries
from ovserve.pipeline_check import PipelineError, Servables, ValidPipeline, validate_pipeline
from ovserve.shared import errors as E
from ovserve.shared.errors import Status
from ovserve.shared.pipeline_config import CUSTOM, NodeConfig, PipelineConfig
from ovserve.shared.pipeline_plan import PipelinePlan, PlanNode, is_chain
from ovserve.shared.routing_rows import PipelineRow
from ovserve.shared.signature import Signature
from ovserve.shared.states import ErrorCode, State

log = logging.getLogger("ovserve.registry")


@dataclass
class PipelineRecord:
    config: PipelineConfig
    state: State = State.LOADING
    error: ErrorCode = ErrorCode.OK
    valid: ValidPipeline | None = None


class PipelineSet:
    def __init__(self) -> None:
        self.records: dict[str, PipelineRecord] = {}
        self.failure: Status | None = None  # the first failure of the last validation
        self.validated_at = -1  # the registry generation of the last validation
        self.libraries = CustomLibraries()

    def set_pipelines(self, configs: list[PipelineConfig]) -> bool:
        """Apply the config's pipelines: new and changed ones wait for validation, missing ones
        retire (END, still listed). Whether anything changed (a reload then answers 201)."""
        changed = False
        names = {c.name for c in configs}
        for name, record in self.records.items():
            if name not in names and record.state != State.END:
                log.info("pipeline %s retired", name)
                record.state, record.error, record.valid = State.END, ErrorCode.OK, None
                changed = True
        for config in configs:
            known = self.records.get(config.name)
            if known is None or known.config != config or known.state == State.END:
                self.records[config.name] = PipelineRecord(config)
                changed = True
        return changed

    def settle(self, models: dict[str, Any], generation: int) -> bool:
        """Validate against the registry's models once per generation (called once their loads
        have settled, as OVMS validates after loading); whether anything changed."""
        if generation == self.validated_at:
            return False
        self.validated_at = generation
        self.libraries.prepare([r.config for r in self.records.values() if r.state != State.END])
        return self.validate(servables(models, self.libraries))

    def validate(self, servables: Servables) -> bool:
        """Validate every pipeline that is not retired; whether any state or signature changed."""
        changed = False
        self.failure = None
        for name in list(self.records):
            record = self.records[name]
            if record.state == State.END:
                continue
            before = (record.state, record.error, record.valid)
            try:
                record.valid = validate_pipeline(record.config, servables)
                record.state, record.error = State.AVAILABLE, ErrorCode.OK
            except PipelineError as exc:
                if (record.state, record.error) != (State.LOADING, ErrorCode.FAILED_PRECONDITION):
                    log.error("%s", exc.log_line)
                self.failure = self.failure or exc.status
                if exc.status == E.PIPELINE_NAME_OCCUPIED:
                    del self.records[name]  # never listed, as OVMS
                    changed = True
                    continue
                record.state, record.error, record.valid = State.LOADING, ErrorCode.FAILED_PRECONDITION, None
            if (record.state, record.error, record.valid) != before:
                changed = True
                if record.state == State.AVAILABLE:
                    log.info("pipeline %s available", name)
        return changed

    def table(self, slot_of: Callable[[str, int], int]) -> dict[str, PipelineRow]:
        """The fronts' view: state, error, signature, the plan to run and the metrics slot of
        its one version."""
        out: dict[str, PipelineRow] = {}
        for name, r in self.records.items():
            signature = r.valid.signature.to_wire() if r.valid else None
            plan = self.plan(r.config, r.valid) if r.valid else None
            out[name] = PipelineRow(r.state, r.error, signature, plan, slot_of(name, 1))
        return out

    def plan(self, config: PipelineConfig, valid: ValidPipeline) -> PipelinePlan:
        """Nodes in an order where each comes after its sources, with their connections (a
        custom node with its library's path, params and signature), and where tensors split
        into shards (the demultiplexers) and the level each node runs at (``pipeline_shards``)."""
        nodes = {n.name: n for n in config.nodes}

        def node(n: NodeConfig) -> PlanNode:
            library: str = ""
            params: tuple[tuple[str, str], ...] = ()
            signature: Signature | None = None
            if n.kind == CUSTOM:
                probe = self.libraries.probe(n.library, n.params)
                assert probe is not None and probe.signature is not None  # it validated
                library, params, signature = self.libraries.paths[n.library], tuple(n.params), probe.signature
            return PlanNode(
                n.name,
                n.model,
                n.version,
                tuple((model_input, s.node, s.item) for model_input, s in n.inputs),
                tuple(dict(n.outputs).items()),  # a later entry of an alias wins, as OVMS
                tuple(valid.runs[n.name]),
                bool(n.gather_from),
                library,
                params,
                signature,
            )

        nodes_in_order = tuple(node(nodes[name]) for name in valid.order)
        return PipelinePlan(
            nodes_in_order,
            tuple((name, s.node, s.item) for name, s in config.outputs),
            not valid.counts and is_chain(nodes_in_order),
            {name: tuple(level) for name, level in valid.levels.items() if level},
            dict(valid.counts),
        )


def servables(models: dict[str, Any], libraries: CustomLibraries) -> Servables:
    """The served model names, a lookup of an AVAILABLE version's signature (version 0: the
    default, the highest AVAILABLE), of a model configured with ``auto``, from the registry's
    model records; and the libraries' probes."""
    live = {name: r for name, r in models.items() if not r.removed}

    def signature_of(model: str, version: int) -> Signature | None:
        record = live.get(model)
        if record is None:
            return None
        available = [
            v for v in record.versions.values() if v.state == State.AVAILABLE and v.current and v.current.signature
        ]
        if version:
            available = [v for v in available if v.version == version]
        best = max(available, key=lambda v: v.version, default=None)
        return Signature.from_wire(best.current.signature) if best is not None else None

    return Servables(set(live), signature_of, libraries.probe, lambda model: live[model].config.uses_auto)
