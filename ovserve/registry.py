"""The supervisor's record of every served model version: desired state, where it is loaded,
and OVMS's lifecycle (START -> LOADING -> AVAILABLE -> UNLOADING -> END).

Each loading of a version is an *instance* with its own number (``Instance.number``, the
``instance`` of the messages), so that a version whose config changed is loaded again beside the
one still serving, and swapped in only once it is AVAILABLE: a reload never makes a served
version unavailable. Pure bookkeeping: methods return the orders to send to workers; the
supervisor sends them.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, NamedTuple

from ovserve.metric_slots import MetricSlots
from ovserve.pipelines import PipelineSet
from ovserve.placement import place
from ovserve.records import Instance, ModelRecord, VersionRecord
from ovserve.repository_watch import RepositoryWatch
from ovserve.shared.control import Load, Unload
from ovserve.shared.model_config import ModelConfig
from ovserve.shared.repository import RepositoryError, list_versions
from ovserve.shared.states import ErrorCode, State

log = logging.getLogger("ovserve.registry")


class Order(NamedTuple):
    """A message for one worker."""

    worker: int
    message: Load | Unload


_numbers = itertools.count(1)


class Registry:
    def __init__(self, workers: list[int], replicas: int = 0) -> None:
        self.replicas = replicas  # workers hosting each model; 0: all
        self.models: dict[str, ModelRecord] = {}
        self.workers_alive: dict[int, int] = {}  # index -> process generation
        self.all_workers = list(workers)
        self._generation = 0  # the routing table's; changes only in changed()
        self.ready = False  # the initial loading has finished (KServe's server ready)
        self.load_log: list[int] = []  # every instance whose load was ordered, in order
        self._owners: dict[int, tuple[str, VersionRecord, Instance]] = {}
        self.slots = MetricSlots()
        self.watch = RepositoryWatch()
        self.pipelines = PipelineSet()

    @property
    def generation(self) -> int:
        return self._generation

    def changed(self) -> None:
        """The routing table changed: the fronts get the new one at the next publish."""
        self._generation += 1

    # ---- desired state ----------------------------------------------------------------------
    def set_models(self, configs: list[ModelConfig], keep: set[str] | frozenset[str] = frozenset()) -> list[Order]:
        """Apply a new list of model configs; models absent from it are retired (END, listed),
        except those in ``keep`` (their new entry was rejected: the old one stays). A changed
        config reloads the model's versions beside the ones serving."""
        orders: list[Order] = []
        self.changed()  # new or removed names change the table even without loads
        names = {c.name for c in configs} | set(keep)
        for name, record in self.models.items():
            if name not in names and not record.removed:
                record.removed = True
                for v in record.versions.values():
                    orders += self._retire(name, v)
        for config in configs:
            found = self.models.get(config.name)
            if found is None:
                self.models[config.name] = ModelRecord(config)
                continue
            record = found
            if record.config == config and not record.removed:
                continue
            was_removed = record.removed
            record.config, record.removed = config, False
            for v in record.versions.values():
                if was_removed or v.state in (State.END, State.UNLOADING):
                    continue
                if v.state == State.AVAILABLE and v.current is not None:
                    orders += self._replace(config.name, record, v)
                else:  # loading or failed: start over with the new config
                    orders += self._retire(config.name, v)
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
                problem = "" if found else f"No version found for model in path: {record.config.base_path}"
            except RepositoryError as exc:
                failed.append(name)
                found, problem = {}, str(exc)
            self.watch.note(name, problem, error=name in failed)
            wanted = set(record.config.version_policy.select(list(found)))
            record.wanted, record.found = wanted, found
            for number in sorted(wanted):
                v = record.versions.get(number)
                if v is None or v.state == State.END:
                    v = record.versions[number] = VersionRecord(number, retiring=v.retiring if v else [])
                    orders += self._load(name, record, v)
                    changed = True
            retired = self._retire_superseded(name, record)
            orders += retired
            changed = changed or bool(retired)
        return orders, changed, failed

    def _retire_superseded(self, name: str, record: ModelRecord) -> list[Order]:
        """Retire what the policy or the disk no longer wants, but keep serving until a wanted
        version is AVAILABLE (or none can become so)."""
        orders: list[Order] = []
        wanted = [record.versions[n] for n in record.wanted if n in record.versions]
        settling = any(v.current is not None and v.current.pending_on for v in wanted)
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

    # ---- transitions ------------------------------------------------------------------------
    def _new_instance(self, name: str, record: ModelRecord, v: VersionRecord) -> tuple[Instance, list[Order]]:
        path = record.found.get(v.version) or (v.current.path if v.current else "")
        inst = Instance(next(_numbers), path, record.config.load_options())
        self._owners[inst.number] = (name, v, inst)
        self.load_log.append(inst.number)
        targets = [
            w
            for w in place(self.models, record.config.name, self.all_workers, self.replicas)
            if w in self.workers_alive
        ]
        inst.pending_on = set(targets)
        self.changed()
        return inst, [Order(w, self._load_message(name, v.version, inst)) for w in targets]

    def _load(self, name: str, record: ModelRecord, v: VersionRecord) -> list[Order]:
        inst, orders = self._new_instance(name, record, v)
        v.current = inst
        v.state, v.error = State.LOADING, ErrorCode.OK if orders else ErrorCode.UNKNOWN
        return orders

    def _replace(self, name: str, record: ModelRecord, v: VersionRecord) -> list[Order]:
        orders: list[Order] = []
        if v.replacement is not None:  # a newer change supersedes the one still loading
            orders += self._unload(name, v, v.replacement)
        v.replacement, loads = self._new_instance(name, record, v)
        return orders + loads

    def _load_message(self, name: str, version: int, inst: Instance) -> Load:
        return Load(name, version, inst.number, inst.path, inst.options, self.slots.of(name, version))

    def _unload(self, name: str, v: VersionRecord, inst: Instance) -> list[Order]:
        """Move ``inst`` to the retiring list; loads still in flight are unloaded on report."""
        inst.unloading_on |= inst.loaded_on
        inst.loaded_on = set()
        v.retiring.append(inst)
        self.changed()
        return [Order(w, Unload(name, v.version, inst.number)) for w in inst.unloading_on]

    def _retire(self, name: str, v: VersionRecord) -> list[Order]:
        orders: list[Order] = []
        for inst in (v.current, v.replacement):
            if inst is not None:
                orders += self._unload(name, v, inst)
        v.current = v.replacement = None
        v.error = ErrorCode.OK
        v.state = State.UNLOADING
        self._settle(v)
        return orders

    def _settle(self, v: VersionRecord) -> None:
        v.retiring = [i for i in v.retiring if not i.settled]
        if v.state == State.UNLOADING and not v.retiring:
            v.state = State.END

    # ---- reports from workers ---------------------------------------------------------------
    def on_loaded(self, worker: int, instance: int, ok: bool, signature: Any, error: str) -> list[Order]:
        owner = self._owners.get(instance)
        if owner is None:
            return []
        name, v, inst = owner
        if worker not in inst.pending_on:
            return []
        inst.pending_on.discard(worker)
        self.changed()
        if inst in v.retiring:  # retired while loading
            if ok:
                inst.unloading_on.add(worker)
                return [Order(worker, Unload(name, v.version, instance))]
            self._settle(v)
            return []
        if ok:
            inst.loaded_on.add(worker)
            inst.signature = signature
        else:
            inst.failures[worker] = error
        orders: list[Order] = []
        if inst is v.current:
            if inst.loaded_on:
                v.state, v.error = State.AVAILABLE, ErrorCode.OK
            elif inst.failed:
                v.state, v.error = State.LOADING, ErrorCode.UNKNOWN
        elif inst is v.replacement and not inst.pending_on:
            if inst.loaded_on:  # swap: the new config serves, the old instance goes
                old, v.current, v.replacement = v.current, inst, None
                if old is not None:
                    orders += self._unload(name, v, old)
                v.state, v.error = State.AVAILABLE, ErrorCode.OK
            else:
                log.error(
                    "model %s version %d: reload with the new config failed; the previous one keeps serving",
                    name,
                    v.version,
                )
                v.replacement = None
        return orders

    def on_unloaded(self, worker: int, instance: int) -> None:
        owner = self._owners.get(instance)
        if owner is None:
            return
        _, v, inst = owner
        inst.unloading_on.discard(worker)
        self._settle(v)
        self.changed()

    def on_worker_lost(self, worker: int) -> None:
        self.workers_alive.pop(worker, None)
        for record in self.models.values():
            for v in record.versions.values():
                for inst in v.instances():
                    inst.loaded_on.discard(worker)
                    inst.pending_on.discard(worker)
                    inst.unloading_on.discard(worker)
                self._settle(v)
                if v.state == State.AVAILABLE and v.current is not None and not v.current.loaded_on:
                    v.state = State.LOADING  # back once the respawned worker reloads it
        self.changed()

    def on_worker_ready(self, worker: int, generation: int) -> list[Order]:
        """A (re)started worker: replay the loads of every instance planned on it."""
        self.workers_alive[worker] = generation
        orders: list[Order] = []
        for name, record in self.models.items():
            if record.removed or worker not in place(self.models, record.config.name, self.all_workers, self.replicas):
                continue
            for v in record.versions.values():
                if v.state not in (State.AVAILABLE, State.LOADING):
                    continue
                for inst in (v.current, v.replacement):
                    if inst is not None and not inst.failed and worker not in inst.loaded_on | inst.pending_on:
                        inst.pending_on.add(worker)
                        orders.append(Order(worker, self._load_message(name, v.version, inst)))
        self.changed()
        return orders

    def on_worker_failing(self, worker: int) -> None:
        """A worker that keeps dying: versions that only it could serve show LOADING/UNKNOWN
        (they come back by themselves if it starts again)."""
        for record in self.models.values():
            for v in record.versions.values():
                cur = v.current
                if v.state == State.LOADING and cur is not None and not cur.loaded_on and not cur.pending_on:
                    v.error = ErrorCode.UNKNOWN
        self.changed()

    # ---- views ------------------------------------------------------------------------------
    def failed_loads(self, instances: list[int]) -> list[tuple[str, int]]:
        """Which of the instances ``instances`` failed to load on every worker."""
        out = []
        for instance in instances:
            owner = self._owners.get(instance)
            if owner is not None and owner[2].failed:
                out.append((owner[0], owner[1].version))
        return out

    @property
    def settled(self) -> bool:
        return all(v.settled for r in self.models.values() for v in r.versions.values())

    def mark_ready(self) -> None:
        """The initial loads have settled: the server is ready for the rest of its life, as OVMS."""
        if not self.ready:
            self.ready = True
            self.changed()
