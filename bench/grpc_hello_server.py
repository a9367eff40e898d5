"""gRPC baseline: grpc.aio hello-world with N processes on one port (SO_REUSEPORT), answering
every unary method with the same few bytes (a valid empty-ish message of any type): the gRPC
ceiling of Python on this machine."""

import asyncio
import multiprocessing
import signal
import sys

import grpc

REPLY = b"\x0a\x05hello"  # field 1, 5 bytes: parses as most small response messages


async def reply(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return REPLY


class AnyMethod(grpc.GenericRpcHandler):
    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(reply)


async def serve(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    server.add_generic_rpc_handlers((AnyMethod(),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def run(port: int) -> None:
    asyncio.run(serve(port))


if __name__ == "__main__":
    port, processes = int(sys.argv[1]), int(sys.argv[2])
    children = [multiprocessing.Process(target=run, args=(port,)) for _ in range(processes)]
    for child in children:
        child.start()

    def stop(*_: object) -> None:
        for c in children:
            c.terminate()

    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.join()
