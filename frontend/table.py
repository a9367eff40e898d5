"""The front's copy of the supervisor's routing table, and OVMS's version resolution on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.pipeline_plan import PipelinePlan
from ovserve.shared.routing_rows import RoutingTableWire, SignatureWire
from ovserve.shared.signature import Signature
from ovserve.shared.states import ErrorCode, State


@dataclass(slots=True)
class VersionEntry:
    version: int
    state: State
    error: ErrorCode
    signature: Signature | None
    workers: list[int]
    instance: int  # which loading of the version serves it (changes when its config changes)
    slot: int = -1  # its block of metric cells (shared.metrics_layout)
    pipeline: bool = False  # a DAG pipeline's entry (its one version, "1")
    plan: PipelinePlan | None = None  # the pipeline's nodes to run (None until it validates)


VersionStatus = tuple[int, State, ErrorCode]


@dataclass
class RoutingTable:
    generation: int = -1
    models: dict[str, dict[int, VersionEntry]] = field(default_factory=dict)
    workers: dict[int, int] = field(default_factory=dict)  # index -> generation
    ready: bool = False  # the supervisor's initial loading has finished
    pipelines: frozenset[str] = frozenset()
    # default version per model, worked out once: a table is never changed, only replaced
    _defaults: dict[str, VersionEntry] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: RoutingTableWire) -> RoutingTable:
        models: dict[str, dict[int, VersionEntry]] = {}
        for name, rows in wire.models.items():
            models[name] = {
                r.version: VersionEntry(
                    r.version, r.state, r.error, _signature(r.signature), list(r.workers), r.instance, r.slot
                )
                for r in rows
            }
        for name, p in wire.pipelines.items():
            models[name] = {1: VersionEntry(1, p.state, p.error, _signature(p.signature), [], 0, p.slot, True, p.plan)}
        return cls(wire.generation, models, dict(wire.workers), wire.ready, frozenset(wire.pipelines))

    def _model(self, name: str) -> dict[int, VersionEntry]:
        versions = self.models.get(name)
        if versions is None:
            raise OvmsError(E.MODEL_NAME_MISSING)
        return versions

    def status(self, name: str, version: int) -> list[VersionStatus]:
        versions = self._model(name)
        if name in self.pipelines:
            version = 0  # a pipeline has one version; a requested one is ignored (as OVMS)
        if version:
            entry = versions.get(version)
            if entry is None:
                raise OvmsError(E.MODEL_VERSION_MISSING)
            return [(entry.version, entry.state, entry.error)]
        return [(e.version, e.state, e.error) for _, e in sorted(versions.items())]

    def all_status(self) -> list[tuple[str, list[VersionStatus]]]:
        return [(name, self.status(name, 0)) for name in self.models]

    def available(self) -> list[str]:
        """What OVMS lists as available servables: models with an AVAILABLE version, then
        pipelines that are AVAILABLE, each in name order."""
        return [
            name
            for pipelines in (False, True)
            for name, versions in sorted(self.models.items())
            if (name in self.pipelines) == pipelines and any(e.state == State.AVAILABLE for e in versions.values())
        ]

    def resolve(self, name: str, version: int) -> VersionEntry:
        """The entry a request names: explicit version, or the default: the highest AVAILABLE;
        else the highest loading (the caller may wait for it), or failed (not loaded yet); else
        the highest retired one (the caller answers that it is retired)."""
        if not version:
            cached = self._defaults.get(name)
            if cached is not None:
                return cached
        versions = self._model(name)
        if name in self.pipelines:
            return versions[1]  # the version asked for is ignored (as OVMS)
        if version:
            entry = versions.get(version)
            if entry is None:
                raise OvmsError(E.MODEL_VERSION_MISSING)
            return entry

        def highest(*states: State, ok_only: bool = False) -> VersionEntry | None:
            found = [e for e in versions.values() if e.state in states and (not ok_only or e.error == ErrorCode.OK)]
            return max(found, key=lambda e: e.version, default=None)

        best = (
            highest(State.AVAILABLE)
            or highest(State.START, State.LOADING, ok_only=True)
            or highest(State.START, State.LOADING)
            or highest(State.UNLOADING, State.END)
        )
        if best is None:
            raise OvmsError(E.MODEL_VERSION_MISSING)
        self._defaults[name] = best
        return best


def unavailable_error(entry: VersionEntry) -> OvmsError:
    if entry.pipeline:
        retired = entry.state in (State.UNLOADING, State.END)
        return OvmsError(E.PIPELINE_DEFINITION_NOT_LOADED_ANYMORE if retired else E.PIPELINE_DEFINITION_NOT_LOADED_YET)
    if entry.state in (State.UNLOADING, State.END):
        return OvmsError(E.MODEL_VERSION_NOT_LOADED_ANYMORE)
    return OvmsError(E.MODEL_VERSION_NOT_LOADED_YET)


def _signature(wire: SignatureWire | None) -> Signature | None:
    return Signature.from_wire(wire) if wire is not None else None
