"""The registry's records: a served model, its versions, and each loading (instance) of a
version, with the states and worker sets the lifecycle moves them through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ovserve.shared.model_config import LoadOptions, ModelConfig
from ovserve.shared.states import ErrorCode, State


@dataclass
class Instance:
    """One loading of one version with one config, on the workers of its placement."""

    number: int  # the instance's number, unique in this server's life ('instance' on the wire)
    path: str
    options: LoadOptions
    signature: list[Any] | None = None
    loaded_on: set[int] = field(default_factory=set)
    pending_on: set[int] = field(default_factory=set)
    unloading_on: set[int] = field(default_factory=set)
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return not self.pending_on and not self.unloading_on

    @property
    def failed(self) -> bool:
        return not self.loaded_on and not self.pending_on and bool(self.failures)


@dataclass
class VersionRecord:
    version: int
    state: State = State.START
    error: ErrorCode = ErrorCode.OK
    current: Instance | None = None  # serving, or loading to serve
    replacement: Instance | None = None  # loading with a changed config; current serves meanwhile
    retiring: list[Instance] = field(default_factory=list)

    def instances(self) -> list[Instance]:
        return [i for i in (self.current, self.replacement, *self.retiring) if i is not None]

    @property
    def settled(self) -> bool:
        return all(i.settled for i in self.instances())


@dataclass
class ModelRecord:
    config: ModelConfig
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    removed: bool = False
    wanted: set[int] = field(default_factory=set)
    found: dict[int, str] = field(default_factory=dict)
    workers: list[int] = field(default_factory=list)  # placement, decided once
