"""gRPC fronts under bad input and faults: random and mutated messages to every method, garbage on
the socket, a message over the size limit, a killed gRPC front, SIGTERM during RPCs. Loopback only,
bounded in count and time; the server stays up and keeps answering correct requests."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as pb
from ovserve.frontend.grpc_api.proto import tf_serving_pb2_grpc as pb_grpc
from ovserve.frontend.grpc_api.proto import tf_tensor_pb2 as tf
from ovserve.shared import errors as E

from tests.server_util import Server

METHODS = [
    "/tensorflow.serving.PredictionService/Predict",
    "/tensorflow.serving.PredictionService/GetModelMetadata",
    "/tensorflow.serving.ModelService/GetModelStatus",
    "/inference.GRPCInferenceService/ModelInfer",
    "/inference.GRPCInferenceService/ModelMetadata",
    "/inference.GRPCInferenceService/ModelReady",
    "/inference.GRPCInferenceService/ServerReady",
]
# codes a bad request may get; never a crash, and UNKNOWN only as OVMS's "Unknown error"
EXPECTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,  # unparsable message bytes, unsupported output precision
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
X = np.arange(10, dtype=np.float32).reshape(1, 10)


def valid_predict() -> pb.PredictRequest:
    shape = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=1), tf.TensorShapeProto.Dim(size=10)])
    request = pb.PredictRequest(
        inputs={"b": tf.TensorProto(dtype=tf.DT_FLOAT, tensor_shape=shape, tensor_content=X.tobytes())}
    )
    request.model_spec.name = "dummy"
    return request


def check_valid(channel: grpc.Channel) -> None:
    response = pb_grpc.PredictionServiceStub(channel).Predict(valid_predict(), timeout=10)
    assert np.array_equal(np.frombuffer(response.outputs["a"].tensor_content, np.float32), X.reshape(-1) + 1)


@pytest.fixture(scope="module")
def channel(config_server: Server) -> Iterator[grpc.Channel]:
    before = sorted(p.pid for p in psutil.Process(config_server.proc.pid).children())
    with grpc.insecure_channel(f"127.0.0.1:{config_server.grpc_port}") as ch:
        yield ch
    assert sorted(p.pid for p in psutil.Process(config_server.proc.pid).children()) == before  # nothing died


def mutated(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if out and rng.random() < 0.7:
            out[rng.randrange(len(out))] = rng.randrange(256)
        else:
            out.insert(rng.randrange(len(out) + 1), rng.randrange(256))
    return bytes(out)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=200), seed=st.integers(0, 2**32 - 1))
def test_hostile_messages(channel: grpc.Channel, method: str, payload: bytes, seed: int) -> None:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        payload = mutated(valid_predict().SerializeToString(), rng)  # near-valid: dims, dtypes, sizes
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        call(payload, timeout=10)
    except grpc.RpcError as exc:
        assert exc.code() in EXPECTED, (method, exc.code(), exc.details())
        if exc.code() == grpc.StatusCode.UNKNOWN:  # OVMS's unmapped statuses
            assert exc.details() == "Unknown error", exc.details()
    if rng.random() < 0.05:
        check_valid(channel)


@pytest.mark.parametrize("method", METHODS)
def test_unparsable_message(channel: grpc.Channel, method: str) -> None:
    """As OVMS's C++ server: INTERNAL with protobuf's initialization-error text, empty for proto3."""
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as info:
        call(b"\x0a\xff\xff\xff", timeout=10)  # field 1, a length past the end
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INTERNAL, "")


def test_garbage_on_the_socket(config_server: Server, channel: grpc.Channel) -> None:
    rng = random.Random(1)
    for i in range(30):
        with socket.create_connection(("127.0.0.1", config_server.grpc_port), timeout=5) as s:
            if i % 2:
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # a valid preface, then junk frames
            s.sendall(bytes(rng.randrange(256) for _ in range(rng.randint(1, 4000))))
            with contextlib.suppress(OSError):
                s.recv(100)
    check_valid(channel)


def test_message_over_the_size_limit(repo: str, tmp_path: Path) -> None:
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--front_processes", "1", "--grpc_channel_arguments", "grpc.max_receive_message_length=1000"]
    server = Server(args, str(tmp_path / "log"), grpc=True)
    try:
        server.wait_ready()
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
            big = valid_predict()
            big.inputs["b"].tensor_content = b"\0" * 4000
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.PredictionServiceStub(ch).Predict(big, timeout=10)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            check_valid(ch)  # a small one still passes
    finally:
        assert server.stop() == 0


def slow_server(slow_model: str, tmp_path: Path, *flags: str) -> Server:
    args = ["--model_name", "slow", "--model_path", slow_model, "--worker_processes", "1", "--front_processes", "1"]
    args += ["--plugin_config", '{"INFERENCE_PRECISION_HINT": "f32"}', *flags]
    server = Server(args, str(tmp_path / "log"), grpc=True)
    server.wait_ready()
    return server


def slow_predict(port: int) -> grpc.StatusCode:
    shape = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=1), tf.TensorShapeProto.Dim(size=4)])
    x = np.ones((1, 4), np.float32)
    request = pb.PredictRequest(
        inputs={"x": tf.TensorProto(dtype=tf.DT_FLOAT, tensor_shape=shape, tensor_content=x.tobytes())}
    )
    request.model_spec.name = "slow"
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        try:
            pb_grpc.PredictionServiceStub(ch).Predict(request, timeout=20)
            return grpc.StatusCode.OK
        except grpc.RpcError as exc:
            return exc.code()


def grpc_fronts(server: Server) -> list[psutil.Process]:
    found = []
    for p in psutil.Process(server.proc.pid).children():
        try:
            if "ovserve.frontend.grpc_front" in p.cmdline():
                found.append(p)
        except psutil.Error:  # a killed one the supervisor has not reaped yet
            pass
    return found


@pytest.mark.slow
def test_grpc_front_killed_is_respawned(slow_model: str, tmp_path: Path) -> None:
    server = slow_server(slow_model, tmp_path, "--grpc_workers", "2")
    try:
        stop = threading.Event()
        codes: list[grpc.StatusCode] = []

        def client() -> None:
            while not stop.is_set():
                codes.append(slow_predict(server.grpc_port))

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        first = grpc_fronts(server)
        assert len(first) == 2
        first[0].send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 20

        def respawned_fronts() -> list[psutil.Process]:
            """Both gRPC fronts, the killed one (listed until it is reaped) replaced."""
            fronts = grpc_fronts(server)
            return fronts if len(fronts) == 2 and first[0].pid not in {p.pid for p in fronts} else []

        while time.monotonic() < deadline and not respawned_fronts():
            time.sleep(0.1)
        respawned = grpc_fronts(server)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(30)
        assert len(respawned) == 2 and first[0].pid not in {p.pid for p in respawned}
        assert codes.count(grpc.StatusCode.OK) > 10
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}  # only the killed front's calls
        assert slow_predict(server.grpc_port) == grpc.StatusCode.OK
    finally:
        assert server.stop() == 0


def test_memory_quota(slow_model: str, tmp_path: Path) -> None:
    """--grpc_memory_quota: a call holds its message's bytes until it ends; one that does not fit
    now gets RESOURCE_EXHAUSTED, and one larger than the whole quota always does."""
    shape = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=1), tf.TensorShapeProto.Dim(size=4)])
    request = pb.PredictRequest(
        inputs={"x": tf.TensorProto(dtype=tf.DT_FLOAT, tensor_shape=shape, tensor_content=b"\0" * 16)}
    )
    request.model_spec.name = "slow"
    size = request.ByteSize()
    server = slow_server(slow_model, tmp_path, "--grpc_memory_quota", str(size * 3 // 2))

    def call(message: pb.PredictRequest) -> tuple[grpc.StatusCode, str]:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
            try:
                pb_grpc.PredictionServiceStub(ch).Predict(message, timeout=20)
                return grpc.StatusCode.OK, ""
            except grpc.RpcError as exc:
                return exc.code(), exc.details() or ""

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(call, [request] * 4))
        full = (grpc.StatusCode.RESOURCE_EXHAUSTED, E.GRPC_QUOTA_FULL.message)
        assert (grpc.StatusCode.OK, "") in results and full in results, results
        assert set(results) == {(grpc.StatusCode.OK, ""), full}
        assert call(request) == (grpc.StatusCode.OK, "")  # released when the calls ended
        big = pb.PredictRequest()
        big.CopyFrom(request)
        big.inputs["x"].tensor_content = b"\0" * (2 * size)
        assert call(big) == (grpc.StatusCode.RESOURCE_EXHAUSTED, E.GRPC_QUOTA_TOO_SMALL.message)
    finally:
        assert server.stop() == 0


def test_sigterm_drains_in_flight_rpcs(slow_model: str, tmp_path: Path) -> None:
    server = slow_server(slow_model, tmp_path, "--shutdown_grace_seconds", "10")
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(slow_predict, server.grpc_port) for _ in range(6)]
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        results = [f.result() for f in futures]
    assert results == [grpc.StatusCode.OK] * 6
    assert server.proc.wait(30) == 0
    server.stop()
    assert server.leftovers() == []
