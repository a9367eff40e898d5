"""One request's life in a front, the same for every transport and dialect: counted as active
(the drain waits for it), timed, counted in the metrics on the model version that answered it,
and its error turned into the transport's answer. REST endpoints and gRPC methods all run
through ``Lifecycle.run``; a transport brings only its ``Answers`` (how it words a refusal from
``shared/errors.py``'s table, and an unexpected failure).

Counting follows OVMS (src/metric_module.cpp, docs/metrics.md): a request counts on the model
version it names or resolves to; a request that names none, or names an unknown model or
version, counts nowhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ovserve.shared.errors import OvmsError

if TYPE_CHECKING:  # types only: the metrics endpoint's module imports this one
    from ovserve.frontend.metrics import FrontMetrics
    from ovserve.frontend.table import RoutingTable

log = logging.getLogger("ovserve.front")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@dataclass(slots=True)
class Call:
    """What a request is counted on. ``series``: its metrics series (-1: not counted, as OVMS's
    health and config endpoints); ``name``/``version``: the model version it names (None until
    the adapter has read it); ``answered``: the version that answered an inference (the default
    version may have moved on while it ran)."""

    series: int = -1
    name: str | None = None
    version: int = 0
    answered: int | None = None


class Answers(Protocol[R_co]):
    """How a transport answers what the lifecycle could not turn into a result."""

    async def refused(self, error: OvmsError) -> R_co:
        """An ``OvmsError``: its code and text as the transport carries them."""
        ...

    async def failed(self) -> R_co:
        """An unexpected exception (already logged with its traceback)."""
        ...


class Lifecycle:
    def __init__(self, metrics: FrontMetrics, table: Callable[[], RoutingTable]) -> None:
        self.active = 0  # requests being handled, for the graceful drain
        self.metrics = metrics
        self.table = table

    async def run(self, call: Call, answers: Answers[R], work: Callable[..., Awaitable[R]], *args: Any) -> R:
        """``work(*args)``'s answer, or the transport's answer for its error. The request is
        counted before its answer leaves (gRPC sends a status as it aborts): a client that
        reads the metrics right after its answer finds it counted."""
        self.active += 1
        started = time.perf_counter()
        try:
            result = await work(*args)
        except OvmsError as exc:
            self._count(call, False, started)
            return await answers.refused(exc)
        except Exception:
            log.exception("unexpected error in %s", getattr(work, "__qualname__", work))
            self._count(call, False, started)
            return await answers.failed()
        except BaseException:  # cancelled: the client went away
            self._count(call, False, started)
            raise
        else:
            self._count(call, True, started)
            return result
        finally:
            self.active -= 1

    def _count(self, call: Call, ok: bool, started: float) -> None:
        if call.series >= 0 and call.name is not None:
            version = call.answered if ok and call.answered is not None else call.version
            self.metrics.request_done(self.table(), call.name, version, call.series, ok, started)
