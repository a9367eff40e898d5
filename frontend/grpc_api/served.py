"""gRPC methods inside the data plane's request lifecycle: the ``served`` decorator, and the
answers of the gRPC transport: an ``OvmsError`` as the code of ``shared.errors``'s one table
with its text (``Unknown error`` for statuses OVMS leaves unmapped, src/grpc_utils.cpp), an
unexpected failure as UNKNOWN ``Unknown error``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from ovserve.frontend.lifecycle import Call
from ovserve.frontend.metrics import series
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError

R = TypeVar("R")
Method = Callable[[Any, Call, Any, grpc.aio.ServicerContext], Awaitable[R]]
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


async def abort(context: grpc.aio.ServicerContext, error: OvmsError) -> NoReturn:
    code, message = E.grpc_status(error)
    await context.abort(grpc.StatusCode[code], message)
    raise AssertionError("unreachable")  # abort raises


class GrpcAnswers:
    __slots__ = ("context",)

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self.context = context

    async def refused(self, error: OvmsError) -> NoReturn:
        await abort(self.context, error)

    async def failed(self) -> NoReturn:
        await self.context.abort(grpc.StatusCode[E.GRPC_UNMAPPED[0]], E.GRPC_UNMAPPED[1])
        raise AssertionError("unreachable")


def served(api: str = "", rpc: str = "") -> Callable[[Method[R]], Handler[R]]:
    """Run a servicer method (``self.dp``: the data plane) in the request lifecycle. ``api``,
    ``rpc``: its metrics series (none: not counted); the method gets the ``Call`` to record the
    model version its request names."""
    index = series(api, rpc, "gRPC") if api else -1

    def wrap(method: Method[R]) -> Handler[R]:
        @functools.wraps(method)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
            call = Call(index)
            return await self.dp.lifecycle.run(call, GrpcAnswers(context), method, self, call, request, context)

        return handler

    return wrap
