"""A front's custom nodes (custom_node_interface.h): each pipeline node with a library gets its own manager
(``initialize`` with the node's params, on its first run), runs in a thread pool (ctypes
releases the GIL, and the library must be thread-safe, as OVMS requires), and is deinitialized
once the routing table no longer has it and its last run has ended.

A library runs inside this front: a crash in it costs this front (the supervisor restarts it),
as in OVMS it costs the whole server."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from ovserve.shared import errors as E
from ovserve.shared.custom_node_abi import LibraryError, NodeLibrary, Params
from ovserve.shared.errors import OvmsError
from ovserve.shared.pipeline_plan import PlanNode
from ovserve.shared.signature import Signature, dim_matches, numpy_dtype

log = logging.getLogger("ovserve.front")
Key = tuple[str, str, tuple[tuple[str, str], ...]]  # (node name, library path, params)


class _Instance:
    def __init__(self, library: NodeLibrary, params: Params) -> None:
        self.library, self.params = library, params
        self.manager: int | None = None
        self.lock = threading.Lock()
        self.running = 0  # runs in flight (changed on the event loop only)
        self.retired = False

    def run(self, inputs: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        with self.lock:
            if self.manager is None:
                try:
                    self.manager = self.library.initialize(self.params)
                except LibraryError as exc:
                    log.error("%s", exc)
                    raise OvmsError(exc.status) from exc
        return self.library.execute(inputs, self.params, self.manager)

    def deinitialize(self) -> None:
        if self.manager is not None and self.library.deinitialize(self.manager) != 0:
            log.error("Custom node library %s: deinitialize failed", self.library.path)
        self.manager = None


class CustomNodes:
    def __init__(self) -> None:
        # more threads than CPUs: a slow or stuck execution (past its deadline, still running)
        # must not hold up every other one
        self.pool = ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 2) + 4), thread_name_prefix="custom-node")
        self.libraries: dict[str, NodeLibrary] = {}
        self.instances: dict[Key, _Instance] = {}

    def on_plans(self, nodes: Iterable[PlanNode]) -> None:
        """The nodes of the new routing table: instances of nodes no longer in it retire."""
        live = {_key(n) for n in nodes if n.library}
        for key in [k for k in self.instances if k not in live]:
            instance = self.instances.pop(key)
            instance.retired = True
            if instance.running == 0:
                self.pool.submit(instance.deinitialize)

    async def run(
        self, node: PlanNode, inputs: list[tuple[str, np.ndarray]], timeout_s: float
    ) -> list[tuple[str, np.ndarray]]:
        """The node's outputs, checked against its library's metadata; past ``timeout_s`` the
        request's deadline error (the call itself cannot be stopped: it ends in its thread)."""
        instance = self._instance(node)
        loop = asyncio.get_running_loop()
        instance.running += 1

        def done(_: Future[list[tuple[str, np.ndarray]]]) -> None:
            loop.call_soon_threadsafe(self._ended, instance)

        future = self.pool.submit(instance.run, inputs)
        future.add_done_callback(done)
        try:
            outputs = await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            raise OvmsError(E.DEADLINE_EXCEEDED) from None
        assert node.signature is not None
        _check_outputs(outputs, node.signature)
        produced = {name for name, _ in outputs}
        if any(real not in produced for _, real in node.outputs):
            raise OvmsError(E.NODE_LIBRARY_MISSING_OUTPUT)
        return outputs

    def _ended(self, instance: _Instance) -> None:
        instance.running -= 1
        if instance.retired and instance.running == 0:
            self.pool.submit(instance.deinitialize)

    def _instance(self, node: PlanNode) -> _Instance:
        key = _key(node)
        instance = self.instances.get(key)
        if instance is None:
            library = self.libraries.get(node.library)
            if library is None:
                try:
                    library = self.libraries[node.library] = NodeLibrary(node.library)
                except LibraryError as exc:  # it opened in the supervisor's probe: changed since
                    log.error("%s", exc)
                    raise OvmsError(exc.status) from exc
            instance = self.instances[key] = _Instance(library, Params(node.params))
        return instance


def _key(node: PlanNode) -> Key:
    return (node.name, node.library, node.params)


def _check_outputs(outputs: list[tuple[str, np.ndarray]], signature: Signature) -> None:
    """What the library declared of an output (precision, dims; 0: any) holds for what it made."""
    declared = {t.name: t for t in signature.outputs}
    for name, array in outputs:
        spec = declared.get(name)
        if spec is None:
            continue
        if numpy_dtype(spec.element_type) != array.dtype:
            raise OvmsError(E.NODE_LIBRARY_INVALID_PRECISION)
        if len(spec.dims) != array.ndim or not all(
            dim_matches(d, v) for d, v in zip(spec.dims, array.shape, strict=True)
        ):
            raise OvmsError(E.NODE_LIBRARY_INVALID_SHAPE)
