"""The supervisor's record of every served model version: desired state, where it is loaded,
and the transitions of OVMS's lifecycle (START -> LOADING -> AVAILABLE -> UNLOADING -> END).

Pure bookkeeping: methods return the orders to send to workers; the supervisor sends them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from shared.model_config import ModelConfig
from shared.repository import RepositoryError, list_versions
from shared.states import ErrorCode, State

log = logging.getLogger("ovserve.registry")

Order = tuple[str, int, dict[str, Any]]  # (kind, worker, message fields)


@dataclass
class VersionRecord:
    version: int
    path: str
    state: State = State.START
    error: ErrorCode = ErrorCode.OK
    signature: list[Any] | None = None
    loaded_on: set[int] = field(default_factory=set)
    pending_on: set[int] = field(default_factory=set)
    unloading_on: set[int] = field(default_factory=set)
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return not self.pending_on and not self.unloading_on


@dataclass
class ModelRecord:
    config: ModelConfig
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    removed: bool = False
    wanted: set[int] = field(default_factory=set)
    found: set[int] = field(default_factory=set)


class Registry:
    def __init__(self, workers: list[int]) -> None:
        self.models: dict[str, ModelRecord] = {}
        self.workers_alive: dict[int, int] = {}  # index -> process generation
        self.all_workers = list(workers)
        self.generation = 0
        self.load_log: list[tuple[str, int]] = []  # every (model, version) whose load was ordered

    # ---- placement --------------------------------------------------------------------------
    def placement(self, config: ModelConfig) -> list[int]:
        """Workers that host ``config``'s versions: every worker of its device (all are CPU)."""
        return list(self.all_workers)

    # ---- desired state ----------------------------------------------------------------------
    def set_models(self, configs: list[ModelConfig], keep: set[str] | frozenset[str] = frozenset()) -> list[Order]:
        """Apply a new list of model configs; models absent from it are retired (END, listed),
        except those in ``keep`` (their new entry was rejected: the old one stays)."""
        orders: list[Order] = []
        names = {c.name for c in configs} | set(keep)
        for name, record in self.models.items():
            if name not in names and not record.removed:
                record.removed = True
                for v in record.versions.values():
                    orders += self._retire(name, v)
        for config in configs:
            record = self.models.get(config.name)
            if record is None:
                self.models[config.name] = ModelRecord(config)
            elif record.config != config or record.removed:
                # a changed config reloads every version of the model
                record.removed = False
                record.config = config
                for v in record.versions.values():
                    if v.state in (State.AVAILABLE, State.LOADING):
                        orders += self._retire(config.name, v)
                record.versions = {k: v for k, v in record.versions.items() if v.state == State.END}
        return orders

    def rescan(self) -> tuple[list[Order], bool, list[str]]:
        """Compare version directories with what is served. Returns orders, whether anything
        changed, and the names of models whose base path could not be read."""
        orders: list[Order] = []
        changed = False
        failed: list[str] = []
        for name, record in self.models.items():
            if record.removed:
                continue
            try:
                found = list_versions(record.config.base_path)
            except RepositoryError as exc:
                log.error("model %s: %s", name, exc)
                failed.append(name)
                found = {}
            wanted = set(record.config.version_policy.select(list(found)))
            for number in sorted(wanted):
                v = record.versions.get(number)
                if v is None or v.state == State.END:
                    v = record.versions[number] = VersionRecord(number, found[number])
                    orders += self._load(name, record.config, v)
                    changed = True
            record.wanted, record.found = wanted, set(found)
            retired = self._retire_superseded(name, record)
            orders += retired
            changed = changed or bool(retired)
        return orders, changed, failed

    def _retire_superseded(self, name: str, record: ModelRecord) -> list[Order]:
        """Retire what the policy or the disk no longer wants, but keep serving until a wanted
        version is AVAILABLE (or none can become so)."""
        orders: list[Order] = []
        wanted = [record.versions[n] for n in record.wanted if n in record.versions]
        settling = any(v.pending_on for v in wanted)
        available = any(v.state == State.AVAILABLE for v in wanted)
        for number, v in record.versions.items():
            if number in record.wanted or v.state in (State.END, State.UNLOADING):
                continue
            if number not in record.found or (not settling and (available or not wanted)):
                orders += self._retire(name, v)
        return orders

    def retire_superseded(self) -> list[Order]:
        orders: list[Order] = []
        for name, record in self.models.items():
            if not record.removed:
                orders += self._retire_superseded(name, record)
        return orders

    def _load(self, name: str, config: ModelConfig, v: VersionRecord) -> list[Order]:
        self.load_log.append((name, v.version))
        v.state = State.LOADING
        v.error = ErrorCode.OK
        v.failures.clear()
        targets = [w for w in self.placement(config) if w in self.workers_alive]
        v.pending_on = set(targets)
        self.generation += 1
        if not targets:
            v.error = ErrorCode.UNKNOWN
        return [("load", w, self._load_message(name, config, v)) for w in targets]

    @staticmethod
    def _load_message(name: str, config: ModelConfig, v: VersionRecord) -> dict[str, Any]:
        return {"name": name, "version": v.version, "path": v.path, "options": config.load_options()}

    def _retire(self, name: str, v: VersionRecord) -> list[Order]:
        holders = v.loaded_on | v.pending_on
        v.state = State.UNLOADING if holders else State.END
        v.error = ErrorCode.OK
        v.unloading_on = set(v.loaded_on)
        v.loaded_on.clear()
        # loads still in flight are unloaded when they report (see on_loaded)
        self.generation += 1
        return [("unload", w, {"name": name, "version": v.version}) for w in v.unloading_on]

    # ---- reports from workers ---------------------------------------------------------------
    def on_loaded(self, worker: int, name: str, version: int, ok: bool, signature: Any, error: str) -> list[Order]:
        record = self.models.get(name)
        v = record.versions.get(version) if record else None
        if v is None or worker not in v.pending_on:
            return [("unload", worker, {"name": name, "version": version})] if ok else []
        v.pending_on.discard(worker)
        self.generation += 1
        if v.state in (State.UNLOADING, State.END):
            if ok:
                v.unloading_on.add(worker)
                return [("unload", worker, {"name": name, "version": version})]
            self._settle_retired(v)
            return []
        if ok:
            v.loaded_on.add(worker)
            v.signature = signature
            v.state = State.AVAILABLE
            v.error = ErrorCode.OK
        else:
            v.failures[worker] = error
            if not v.loaded_on and not v.pending_on:
                v.state = State.LOADING
                v.error = ErrorCode.UNKNOWN
        return []

    def on_unloaded(self, worker: int, name: str, version: int) -> None:
        record = self.models.get(name)
        v = record.versions.get(version) if record else None
        if v is None:
            return
        v.unloading_on.discard(worker)
        self._settle_retired(v)
        self.generation += 1

    @staticmethod
    def _settle_retired(v: VersionRecord) -> None:
        if v.state == State.UNLOADING and not v.unloading_on and not v.pending_on:
            v.state = State.END

    def on_worker_lost(self, worker: int) -> None:
        self.workers_alive.pop(worker, None)
        for record in self.models.values():
            for v in record.versions.values():
                v.loaded_on.discard(worker)
                v.pending_on.discard(worker)
                v.unloading_on.discard(worker)
                self._settle_retired(v)
                if v.state == State.AVAILABLE and not v.loaded_on:
                    v.state = State.LOADING  # back once the respawned worker reloads it
        self.generation += 1

    def on_worker_ready(self, worker: int, generation: int) -> list[Order]:
        """A (re)started worker: replay the loads of every version planned on it."""
        self.workers_alive[worker] = generation
        orders: list[Order] = []
        for name, record in self.models.items():
            if record.removed or worker not in self.placement(record.config):
                continue
            for v in record.versions.values():
                serving = v.state == State.AVAILABLE or (v.state == State.LOADING and v.error == ErrorCode.OK)
                if serving and worker not in v.loaded_on and worker not in v.pending_on:
                    v.pending_on.add(worker)
                    orders.append(("load", worker, self._load_message(name, record.config, v)))
        self.generation += 1
        return orders

    def failed_loads(self, keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Which of ``keys`` ended in LOADING/UNKNOWN (their load failed everywhere)."""
        out = []
        for name, version in keys:
            record = self.models.get(name)
            v = record.versions.get(version) if record else None
            if v is not None and v.state == State.LOADING and v.error == ErrorCode.UNKNOWN:
                out.append((name, version))
        return out

    # ---- views ------------------------------------------------------------------------------
    @property
    def settled(self) -> bool:
        return all(v.settled for r in self.models.values() for v in r.versions.values())

    def table(self) -> dict[str, Any]:
        """The routing table sent to the fronts: every model's versions, states and hosts."""
        models = {}
        for name, record in self.models.items():
            models[name] = [
                [v.version, int(v.state), int(v.error), v.signature, sorted(v.loaded_on)]
                for _, v in sorted(record.versions.items())
            ]
        return {"gen": self.generation, "models": models, "workers": dict(self.workers_alive)}
