"""OVMS's quickstart start line (the gRPC port alone) and gRPC clients that keep within the
limits the server advertises: never a refused stream (REFUSED_STREAM, "UNAVAILABLE: Stream
removed"), with many channels, many calls in flight on one channel, and a burst at start."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from tests.server_util import Server

CHANNELS, CALLS, IN_FLIGHT, BURST = 16, 200, 64, 256


@pytest.fixture(scope="module")
def grpc_only(repo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = str(tmp_path_factory.mktemp("logs") / "grpc_only.log")
    # docs/ovms_quickstart.md: --model_name, --model_path, --port; no --rest_port
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--grpc_bind_address", "127.0.0.1"]
    server = Server(args, log, rest=False)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def request() -> pb.ModelInferRequest:
    r = pb.ModelInferRequest(model_name="dummy")
    r.inputs.add(name="b", datatype="FP32", shape=[1, 10])
    r.raw_input_contents.append(np.arange(10, dtype=np.float32).tobytes())
    return r


async def _infer(stub: pb_grpc.GRPCInferenceServiceStub, errors: Counter[str]) -> None:
    try:
        reply = await stub.ModelInfer(request(), timeout=60)
        assert np.frombuffer(reply.raw_output_contents[0], np.float32)[3] == 4.0
    except grpc.RpcError as exc:
        errors[f"{exc.code().name}: {exc.details()}"] += 1


async def _channels() -> Counter[str]:
    errors: Counter[str] = Counter()

    async def client(address: str, i: int) -> None:
        # an option unique to each channel: its own connection, as separate client processes have
        async with grpc.aio.insecure_channel(address, options=[("test.channel", i)]) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            for _ in range(CALLS):
                await _infer(stub, errors)

    await asyncio.gather(*[client(ADDRESS[0], i) for i in range(CHANNELS)])
    return errors


async def _in_flight(depth: int, total: int) -> Counter[str]:
    errors: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(ADDRESS[0]) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        gate = asyncio.Semaphore(depth)

        async def one() -> None:
            async with gate:
                await _infer(stub, errors)

        await asyncio.gather(*[one() for _ in range(total)])
    return errors


ADDRESS: list[str] = []


@pytest.fixture(autouse=True)
def address(grpc_only: Server) -> None:
    ADDRESS[:] = [f"127.0.0.1:{grpc_only.grpc_port}"]


def test_quickstart_serves_grpc_only(grpc_only: Server) -> None:
    with grpc.insecure_channel(ADDRESS[0]) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerReady(pb.ServerReadyRequest()).ready
        assert stub.ModelReady(pb.ModelReadyRequest(name="dummy")).ready
    log = grpc_only.read_log()
    assert "serving gRPC at 127.0.0.1" in log and "serving REST" not in log


def test_burst_at_start_is_never_refused() -> None:
    """A new connection's first calls go out before the server's SETTINGS arrive."""
    assert asyncio.run(_in_flight(BURST, BURST)) == Counter()


def test_many_channels_are_never_refused() -> None:
    assert asyncio.run(_channels()) == Counter()


def test_many_calls_in_flight_on_one_channel_are_never_refused() -> None:
    assert asyncio.run(_in_flight(IN_FLIGHT, 2000)) == Counter()
