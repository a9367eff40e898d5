"""Every gRPC method answers an ``OvmsError`` as OVMS does: the code from ``shared.errors``'s one
table and the status text (``Unknown error`` for statuses OVMS leaves unmapped)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.metrics import series
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError

log = logging.getLogger("ovserve.front")
R = TypeVar("R")


async def abort(context: grpc.aio.ServicerContext, error: OvmsError) -> None:
    code, message = E.grpc_status(error)
    await context.abort(grpc.StatusCode[code], message)


def answers_errors(
    method: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]:
    """Count the call as active (for the drain) and turn errors into gRPC statuses."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        dp: DataPlane = self.dp
        dp.active += 1
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except OvmsError as exc:
            await abort(context, exc)
            raise AssertionError("unreachable") from None  # abort raises
        except Exception:
            log.exception("unexpected error in %s", method.__name__)
            await context.abort(grpc.StatusCode.UNKNOWN, E.GRPC_UNMAPPED[1])
            raise AssertionError("unreachable") from None
        finally:
            dp.active -= 1

    return wrapper


def counted(
    api: str, method_name: str, target: Callable[[Any], tuple[str, int]]
) -> Callable[[Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """Count the call in the metrics series ``(api, method_name, gRPC)`` on the model version
    ``target(request)`` names (apply inside ``answers_errors``, which sees the error after)."""
    index = series(api, method_name, "gRPC")

    def wrap(method: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(method)
        async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
            started = time.perf_counter()
            ok = False
            try:
                result = await method(self, request, context)
                ok = True
                return result
            finally:
                try:
                    name, version = target(request)
                except OvmsError:
                    pass  # no model named: counted nowhere
                else:
                    self.dp.metrics.request_done(self.dp.table, name, version, index, ok, started)

        return wrapper

    return wrap
