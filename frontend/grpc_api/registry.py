"""Registers a servicer's methods from its service descriptor, with what every unary call
passes first:

* a deserializer that does not raise. grpc's Python server answers a message that does not
  parse with UNKNOWN ``Unexpected <class 'DecodeError'>...`` and logs a traceback per message;
  OVMS's C++ server answers INTERNAL with protobuf's (empty, for proto3) initialization-error
  text, and so does ovserve;
* the front's share of ``--grpc_memory_quota``: the message's bytes are held from it until the
  call ends (OVMS gives gRPC's resource quota that size; grpc's Python API cannot set one);
* with an API key (``shared.access``), the ``authorization`` metadata of a guarded method,
  checked before anything else: a caller without the key learns nothing of its message."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from ovserve.frontend.grpc_api.served import abort
from ovserve.frontend.intake import Intake
from ovserve.shared import errors as E
from ovserve.shared.access import GRPC_GROUP, Access
from ovserve.shared.errors import OvmsError

UNPARSABLE_CODE, UNPARSABLE_TEXT = grpc.StatusCode[E.GRPC_UNPARSABLE[0]], E.GRPC_UNPARSABLE[1]


class _Unparsable:
    """Stands for a request message whose bytes did not parse."""


UNPARSABLE = _Unparsable()


def _parser(cls: type[Message]) -> Callable[[bytes], Any]:
    parse = cls.FromString

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError:
            return UNPARSABLE

    return deserialize


Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _authorization(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":  # gRPC metadata keys are lower case
            return value if isinstance(value, str) else None
    return None


async def _check_key(access: Access, context: grpc.aio.ServicerContext) -> None:
    if not access.allows(_authorization(context)):
        await abort(context, OvmsError(E.UNAUTHORIZED))


def _unary(method: Behaviour, quota: Intake | None, access: Access | None) -> Behaviour:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if access is not None:
            await _check_key(access, context)
        if request is UNPARSABLE:
            await context.abort(UNPARSABLE_CODE, UNPARSABLE_TEXT)
        if quota is None:
            return await method(request, context)
        cost = request.ByteSize()
        refusal = quota.reserve(cost)
        if refusal is not None:
            await abort(context, OvmsError(refusal))
        try:
            return await method(request, context)
        finally:
            quota.release(cost)

    return handler


def _guarded_stream(behaviour: Any, access: Access) -> Any:
    async def handler(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await _check_key(access, context)
        async for reply in behaviour(requests, context):
            yield reply

    return handler


def _handler(
    servicer: Any, method: MethodDescriptor, quota: Intake | None, access: Access | None
) -> grpc.RpcMethodHandler:
    deserialize = _parser(message_factory.GetMessageClass(method.input_type))
    serialize = message_factory.GetMessageClass(method.output_type).SerializeToString
    behaviour = getattr(servicer, method.name)
    if access is not None and not access.guards(GRPC_GROUP[method.name]):
        access = None  # an open method (health)
    if method.client_streaming or method.server_streaming:
        # only ModelStreamInfer, which answers NOT_FOUND whatever its first message holds
        assert method.client_streaming and method.server_streaming, method.full_name
        if access is not None:
            behaviour = _guarded_stream(behaviour, access)
        return grpc.stream_stream_rpc_method_handler(behaviour, deserialize, serialize)
    if not inspect.iscoroutinefunction(behaviour):
        raise TypeError(f"{method.full_name}: the servicer's method must be a coroutine function")
    return grpc.unary_unary_rpc_method_handler(_unary(behaviour, quota, access), deserialize, serialize)


def register(
    server: grpc.aio.Server, service: ServiceDescriptor, servicer: Any, quota: Intake | None, access: Access | None
) -> None:
    """Serve every method ``service`` declares with ``servicer``'s method of the same name;
    ``quota``: the request-message bytes this front may hold at once (None: no limit);
    ``access``: the API key guarding some methods (None: no key)."""
    handlers = {m.name: _handler(servicer, m, quota, access) for m in service.methods}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)
