"""The worker's loader thread: compiles model versions off the serving loop, so that a reload
never stalls the versions already being served. Results wait in a queue; a message on an
inproc PAIR socket wakes the serving loop's poller for them."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import zmq
from ovserve.shared.control import Load

log = logging.getLogger("ovserve.worker")


@dataclass(slots=True)
class LoadResult:
    order: Load
    loaded: Any | None  # model_host.LoadedVersion; None: failed
    error: str = ""


class Loader:
    def __init__(self, ctx: zmq.Context[Any], index: int, host: Any, core: Any) -> None:
        self.index = index
        self.host = host  # workers.model_host (imports openvino)
        self.core = core
        self.ctx = ctx
        self.endpoint = f"inproc://wake-{index}"
        self.wake = ctx.socket(zmq.PAIR)  # the serving loop polls this
        self.wake.bind(self.endpoint)
        self.orders: queue.Queue[Load | None] = queue.Queue()
        self.done: queue.Queue[LoadResult] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="loader", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, order: Load) -> None:
        self.orders.put(order)

    def finished(self) -> list[LoadResult]:
        """Every load finished since the last call (clears the wake-up messages too)."""
        while self.wake.poll(0):
            self.wake.recv()
        results = []
        while True:
            try:
                results.append(self.done.get_nowait())
            except queue.Empty:
                return results

    def stop(self) -> None:
        self.orders.put(None)
        self.wake.close()

    def _loop(self) -> None:
        wake = self.ctx.socket(zmq.PAIR)
        wake.connect(self.endpoint)
        while True:
            order = self.orders.get()
            if order is None:
                break
            started = time.monotonic()
            try:
                loaded = self.host.load_version(self.core, order.path, order.options, order.name)
                result = LoadResult(order, loaded)
                ms = (time.monotonic() - started) * 1000
                log.info("worker %d loaded %s version %d in %.0f ms", self.index, order.name, order.version, ms)
            except Exception as exc:  # a broken model file must not kill the worker
                reason = error_text(exc)
                log.error(
                    "worker %d failed to load %s version %d from %s: %s",
                    self.index,
                    order.name,
                    order.version,
                    order.path,
                    reason,
                )
                result = LoadResult(order, None, reason)
            self.done.put(result)
            wake.send(b"")
        wake.close()


def error_text(exc: Exception) -> str:
    """OpenVINO's message without its source-location lines ("Exception from src/...:84:"),
    on one line."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not line.startswith("Exception from ")]
    return " ".join(kept) or type(exc).__name__
