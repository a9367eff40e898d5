"""The routing table as it travels from the supervisor (``ovserve.routing_table`` builds it) to
the fronts (``frontend.table`` resolves versions on it): one row per model version, one per
pipeline, each with one encoder and one decoder. Signatures travel in their wire form
(``Signature.to_wire``); a front decodes them once per table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovserve.shared.pipeline_plan import PipelinePlan
from ovserve.shared.states import ErrorCode, State

SignatureWire = list[Any]


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: int
    state: State
    error: ErrorCode
    signature: SignatureWire | None  # None until a worker loaded it
    workers: tuple[int, ...]  # the workers serving it
    instance: int  # which loading of the version serves it (0: none)
    slot: int  # its block of metric cells (-1: none)

    def encode(self) -> list[Any]:
        return [
            self.version,
            int(self.state),
            int(self.error),
            self.signature,
            list(self.workers),
            self.instance,
            self.slot,
        ]

    @classmethod
    def decode(cls, m: list[Any]) -> VersionRow:
        version, state, error, signature, workers, instance, slot = m
        return cls(int(version), State(state), ErrorCode(error), signature, tuple(workers), int(instance), int(slot))


@dataclass(frozen=True, slots=True)
class PipelineRow:
    """A pipeline's one version: its state, signature and plan (None until it validates)."""

    state: State
    error: ErrorCode
    signature: SignatureWire | None
    plan: PipelinePlan | None
    slot: int

    def encode(self) -> list[Any]:
        plan = self.plan.encode() if self.plan is not None else None
        return [int(self.state), int(self.error), self.signature, plan, self.slot]

    @classmethod
    def decode(cls, m: list[Any]) -> PipelineRow:
        state, error, signature, plan, slot = m
        return cls(
            State(state),
            ErrorCode(error),
            signature,
            PipelinePlan.decode(plan) if plan is not None else None,
            int(slot),
        )


@dataclass(frozen=True)
class RoutingTableWire:
    generation: int
    models: dict[str, list[VersionRow]] = field(default_factory=dict)
    pipelines: dict[str, PipelineRow] = field(default_factory=dict)
    workers: dict[int, int] = field(default_factory=dict)  # worker index -> its process generation
    ready: bool = False  # the initial loading has finished

    def encode(self) -> dict[str, Any]:
        return {
            "gen": self.generation,
            "models": {name: [r.encode() for r in rows] for name, rows in self.models.items()},
            "pipelines": {name: row.encode() for name, row in self.pipelines.items()},
            "workers": self.workers,
            "ready": self.ready,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> RoutingTableWire:
        return cls(
            int(data["gen"]),
            {str(name): [VersionRow.decode(r) for r in rows] for name, rows in data["models"].items()},
            {str(name): PipelineRow.decode(row) for name, row in data["pipelines"].items()},
            {int(k): int(v) for k, v in data["workers"].items()},
            bool(data["ready"]),
        )
