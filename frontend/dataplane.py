"""The front's protocol-neutral data plane: what every protocol adapter (TFS and KServe, over
REST and gRPC) asks of the server, in numpy tensors and ``OvmsError``s. It knows no JSON, no HTTP
and no protobuf.

Policy that lives here and nowhere else: each request's lifecycle (``lifecycle.Lifecycle``), the
inference sequence every adapter runs (``infer_call``: wait for the version, decode against its
signature, validate, run), OVMS's version resolution, waiting (up to 10 s) for a version that is
still loading, dispatch to a worker, and one retry on the new default version when the one a
request was sent to retired meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
from ovserve.frontend.binary_inputs import BinaryInputs, strings_2d_out
from ovserve.frontend.dispatch import Dispatcher
from ovserve.frontend.lifecycle import Call, Lifecycle
from ovserve.frontend.metrics import FrontMetrics
from ovserve.frontend.pipeline.custom_nodes import CustomNodes
from ovserve.frontend.pipeline.fuse import Fused, fuse
from ovserve.frontend.pipeline.run import run_pipeline, split_passthrough
from ovserve.frontend.table import RoutingTable, VersionEntry, unavailable_error
from ovserve.frontend.validation import TFS, Declared, Dialect, validate
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError, Status
from ovserve.shared.metrics_layout import BLOCK, CURRENT
from ovserve.shared.pipeline_plan import PlanNode
from ovserve.shared.signature import Signature, TensorSpec
from ovserve.shared.states import ErrorCode, State

WAIT_FOR_LOADED_S = 10.0  # OVMS DEFAULT_WAIT_FOR_MODEL_LOADED_TIMEOUT_MS
WAIT_FOR_PIPELINE_S = 0.5  # OVMS WAIT_FOR_LOADED_DEFAULT_TIMEOUT_MICROSECONDS: a pipeline still loading
WAIT_POLL_S = 0.1

Reload = Callable[[], Awaitable[tuple[int, str | None]]]


class Decoded(Protocol):
    """A request's tensors as its adapter decoded them against the signature: flat or shaped
    arrays by input name, and the shapes the protocol states apart from the data (None: the
    arrays' own shapes are the request's, as TFS REST)."""

    @property
    def inputs(self) -> Mapping[str, np.ndarray]: ...

    @property
    def declared(self) -> Mapping[str, Declared] | None: ...


D = TypeVar("D", bound=Decoded)


@dataclass(slots=True)
class DecodedTensors:
    inputs: dict[str, np.ndarray]
    declared: dict[str, Declared] | None = None


@dataclass(slots=True)
class InferOutcome:
    version: int  # the version that answered (the default may have moved on meanwhile)
    outputs: list[tuple[str, np.ndarray]]


class DataPlane:
    def __init__(self, dispatcher: Dispatcher, reload: Reload, metrics: FrontMetrics) -> None:
        self.table = RoutingTable()
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.lifecycle = Lifecycle(metrics, lambda: self.table)
        self.binary = BinaryInputs()
        self.custom = CustomNodes()
        self._fusions: dict[int, tuple[str, VersionEntry, Fused] | None] = {}  # per plan, for this table
        self._reload = reload

    def set_table(self, table: RoutingTable) -> None:
        self.metrics.on_table(table)
        self.table = table
        self._fusions = {}
        plans = (table.models[name][1].plan for name in table.pipelines)
        self.custom.on_plans(node for plan in plans if plan is not None for node in plan.nodes)

    # ---- server and model state -------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """The initial loading has finished (OVMS: ready for the rest of the server's life)."""
        return self.table.ready

    def resolve(self, name: str, version: int) -> VersionEntry:
        return self.table.resolve(name, version)

    def available(self, name: str, version: int) -> VersionEntry:
        """The entry, AVAILABLE and with a signature, or the error OVMS answers for it."""
        entry = self.table.resolve(name, version)
        if entry.state != State.AVAILABLE or entry.signature is None:
            raise unavailable_error(entry)
        return entry

    def available_versions(self, name: str) -> list[int]:
        return sorted(v for v, e in self.table.models.get(name, {}).items() if e.state == State.AVAILABLE)

    async def wait_available(self, name: str, version: int) -> VersionEntry:
        """Resolve, waiting up to 10 s for a version that is still loading (as OVMS does)."""
        entry = self.table.resolve(name, version)
        deadline = time.monotonic() + (WAIT_FOR_PIPELINE_S if entry.pipeline else WAIT_FOR_LOADED_S)
        while entry.state != State.AVAILABLE or not (entry.workers or entry.pipeline) or entry.signature is None:
            if entry.state in (State.UNLOADING, State.END) or entry.error != ErrorCode.OK:
                raise unavailable_error(entry)
            if time.monotonic() >= deadline:
                raise unavailable_error(entry)
            await asyncio.sleep(WAIT_POLL_S)
            entry = self.table.resolve(name, version)
        return entry

    # ---- inference ----------------------------------------------------------------------------
    async def infer_call(
        self, call: Call, decode: Callable[[Signature], D], dialect: Dialect = TFS, unknown: Status | None = None
    ) -> tuple[D, InferOutcome]:
        """The inference every adapter runs: wait for the version ``call`` names, decode the
        request against its signature, validate and run it; ``call`` records the version that
        answered. ``unknown``: the text for a name that is no model, where the dialect's last
        lookup has its own (OVMS looks for a model, then a DAG, then a MediaPipe graph)."""
        assert call.name is not None
        try:
            entry = await self.wait_available(call.name, call.version)
        except OvmsError as exc:
            if unknown is not None and exc.status is E.MODEL_NAME_MISSING:
                raise OvmsError(unknown) from None
            raise
        assert entry.signature is not None
        decoded = decode(entry.signature)
        outcome = await self.infer(call.name, call.version, entry, decoded.inputs, decoded.declared, dialect)
        call.answered = outcome.version
        return decoded, outcome

    async def infer(
        self,
        name: str,
        version: int,
        entry: VersionEntry,
        inputs: Mapping[str, np.ndarray],
        declared: Mapping[str, Declared] | None = None,
        dialect: Dialect = TFS,
    ) -> InferOutcome:
        """Validate ``inputs`` against ``entry`` (from ``wait_available``) and run them.
        ``declared``: shapes the protocol states apart from the data (KServe), checked as OVMS
        does; ``dialect``: how the protocol words OVMS's messages. Binary inputs (images,
        strings) become tensors after validation, as OVMS converts them."""

        assert entry.signature is not None
        if entry.plan is not None:
            return InferOutcome(1, await self._pipeline(entry, inputs, declared, dialect))
        checked = await self._checked(inputs, entry.signature, declared, dialect)
        try:
            return InferOutcome(entry.version, strings_2d_out(await self._dispatch(name, entry, checked)))
        except OvmsError as exc:
            # the default version moved on while this request travelled: serve it with the new one
            if version or exc.status is not E.MODEL_VERSION_NOT_LOADED_ANYMORE:
                raise
            newer = await self.wait_available(name, 0)
            if (newer.version, newer.instance) == (entry.version, entry.instance) or newer.signature is None:
                raise
            checked = await self._checked(inputs, newer.signature, declared, dialect)
            return InferOutcome(newer.version, strings_2d_out(await self._dispatch(name, newer, checked)))

    async def _pipeline(
        self,
        entry: VersionEntry,
        inputs: Mapping[str, np.ndarray],
        declared: Mapping[str, Declared] | None,
        dialect: Dialect,
    ) -> list[tuple[str, np.ndarray]]:
        """Validate against the pipeline's signature (inputs wired straight to the response
        have none), then run its nodes, each validated against its own model."""
        assert entry.plan is not None and entry.signature is not None
        checked, passthrough, defined = split_passthrough(inputs, entry.signature)
        pairs = await self._checked(checked, defined, declared, dialect)
        fused = self._fused(entry) if not passthrough else None
        if fused is not None:  # one worker runs the whole chain
            model, first, order = fused
            try:
                return strings_2d_out(await self._dispatch(model, first, pairs, None, order))
            except OvmsError as exc:
                if exc.status is not E.MODEL_VERSION_NOT_LOADED_ANYMORE:
                    raise  # else a node's version retired on the way: node by node, waiting for the new one
        validated = {spec.name: array for spec, array in pairs}
        held: list[int] = []  # the blocks whose outputs later nodes read in place

        async def run_node(node: PlanNode, node_inputs: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
            if node.library:  # a custom node: run here, checked against its library's metadata
                assert node.signature is not None
                checked = await self._checked(node_inputs, node.signature, None, dialect)
                arrays = [(spec.name, array) for spec, array in checked]
                return await self.custom.run(node, arrays, self.dispatcher.timeout_s)
            node_entry = await self.wait_available(node.model, node.version)
            assert node_entry.signature is not None
            checked = await self._checked(node_inputs, node_entry.signature, None, dialect)
            return await self._dispatch(node.model, node_entry, checked, held)

        try:
            outputs = await run_pipeline(entry.plan, {**validated, **passthrough}, run_node)
            return strings_2d_out([(name, np.array(array)) for name, array in outputs])  # out of the arena
        finally:
            for block in held:
                self.dispatcher.release(block)

    def _fused(self, entry: VersionEntry) -> tuple[str, VersionEntry, Fused] | None:
        """The pipeline as one request for one worker (its first node's model and version, and
        the chain), or None: worked out once per routing table."""
        plan = entry.plan
        assert plan is not None and entry.signature is not None
        if id(plan) in self._fusions:
            return self._fusions[id(plan)]
        found = None
        if plan.models_only:
            try:
                entries = [self.table.resolve(n.model, n.version) for n in plan.nodes]
            except OvmsError:
                entries = []
            if entries and all(e.state == State.AVAILABLE and e.workers and e.signature for e in entries):
                fused = fuse(plan, entries, entry.signature)
                found = (plan.nodes[0].model, entries[0], fused) if fused is not None else None
        self._fusions[id(plan)] = found
        return found

    async def _checked(
        self,
        inputs: Mapping[str, np.ndarray],
        signature: Signature,
        declared: Mapping[str, Declared] | None,
        dialect: Dialect,
    ) -> list[tuple[TensorSpec, np.ndarray]]:
        checked = validate(inputs, signature, declared, dialect)
        if any(array.dtype == object for _, array in checked):
            return await self.binary.convert(checked, dialect)
        return checked

    async def _dispatch(
        self,
        name: str,
        entry: VersionEntry,
        inputs: list[tuple[TensorSpec, np.ndarray]],
        held: list[int] | None = None,
        fused: Fused | None = None,
    ) -> list[tuple[str, np.ndarray]]:
        """``held``, ``fused``: see ``Dispatcher.infer`` (a pipeline's nodes)."""
        cells = self.metrics.cells
        if cells is None or entry.slot < 0:
            return await self.dispatcher.infer(name, entry, inputs, held, fused)
        current = entry.slot * BLOCK + CURRENT  # ovms_current_requests, on every request's path
        cells.cells[current] += 1
        try:
            return await self.dispatcher.infer(name, entry, inputs, held, fused)
        finally:
            cells.cells[current] -= 1

    # ---- configuration ------------------------------------------------------------------------
    async def reload_config(self) -> tuple[int, str | None]:
        """Ask the supervisor to reload: (HTTP-style code, error message or None)."""
        return await self._reload()
