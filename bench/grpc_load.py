"""gRPC load benchmark: ovserve's TF Serving Predict (``tensor_content``) and KServe ModelInfer
(raw contents) under h2load with prepared gRPC frames, next to the same server's REST points
(TFS JSON and KServe binary, wrk) and baselines measured in the same run: OpenVINO's in-process
rate, a naive one-process grpc.aio + OpenVINO server (``grpc_naive_server.py``) and a grpc.aio
hello-world with as many processes as ovserve has gRPC fronts. Every point shows the server's CPU
microseconds per request by process role.

    python bench/grpc_load.py                                  # dummy and cnn, c = 1, 8, 32
    python bench/grpc_load.py --models dummy --concurrency 32 --grpc_workers 2

Needs the dev extras and h2load (Debian nghttp2-client, installed with apt when missing).
"""

from __future__ import annotations

import argparse
import functools
import os
import struct
import sys

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ovserve.frontend.grpc_api.proto import grpc_predict_v2_pb2 as kserve
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as tfs
from ovserve.frontend.grpc_api.proto import tf_tensor_pb2 as tf

from bench.harness import (
    HERE,
    OUT,
    READY_PATH,
    Proc,
    Result,
    cpu_model,
    ensure_h2load,
    ensure_wrk,
    kserve_bodies,
    make_models,
    measure,
    ov_rate,
    ovserve_argv,
    run_h2load,
    run_wrk,
)
from bench.load import TENSOR_NAMES, body_for, print_table
from tests.server_util import free_port

PREDICT = "/tensorflow.serving.PredictionService/Predict"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"


def grpc_bodies(name: str, shape: list[int]) -> dict[str, tuple[str, bytes]]:
    """One serialized request per method (the bench tensor of ``body_for``), and its gRPC frame
    file (flag byte, 4-byte big-endian length, message) for h2load."""
    input_name, _ = TENSOR_NAMES[name]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    dims = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=d) for d in shape])
    predict = tfs.PredictRequest(
        inputs={input_name: tf.TensorProto(dtype=tf.DT_FLOAT, tensor_shape=dims, tensor_content=x.tobytes())}
    )
    predict.model_spec.name = name
    infer = kserve.ModelInferRequest(model_name=name, raw_input_contents=[x.tobytes()])
    infer.inputs.add(name=input_name, datatype="FP32", shape=shape)
    bodies = {}
    for path, message in ((PREDICT, predict), (MODEL_INFER, infer)):
        data = message.SerializeToString()
        frame_file = os.path.join(OUT, f"{name}{path.replace('/', '.')}.grpc")
        with open(frame_file, "wb") as f:
            f.write(b"\0" + struct.pack(">I", len(data)) + data)
        bodies[path] = (frame_file, data)
    return bodies


def check_call(port: int, path: str, data: bytes, hello: bool) -> None:
    """One real call: h2load counts HTTP 200s, and a failed RPC is an HTTP 200 too."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = channel.unary_unary(path)(data, timeout=60, wait_for_ready=True)
    if hello:
        return
    parsed = (tfs.PredictResponse if path == PREDICT else kserve.ModelInferResponse).FromString(reply)
    assert parsed.outputs, f"{path}: no outputs"


def model_xml(model_dir: str) -> str:
    return os.path.join(model_dir, "1", "model.xml")


def bench_model(a: argparse.Namespace, name: str, concurrencies: list[int]) -> None:
    model_dir, shape = make_models()[name]
    ceiling = ov_rate(model_dir, min(a.duration, 5))
    bodies = grpc_bodies(name, shape)
    tfs_json = body_for(name, shape)
    _, (v2_binary, header_length) = kserve_bodies(name, *TENSOR_NAMES[name], shape)
    port, gport = free_port(), free_port()
    argv = [*ovserve_argv(name, model_dir, port), "--port", str(gport), "--grpc_bind_address", "127.0.0.1"]
    argv += ["--grpc_workers", str(a.grpc_workers), *a.extra.split()]
    rest = f"http://127.0.0.1:{port}"
    points = [
        ("ovserve gRPC TFS", functools.partial(run_h2load, gport, PREDICT, bodies[PREDICT][0])),
        ("ovserve gRPC KServe", functools.partial(run_h2load, gport, MODEL_INFER, bodies[MODEL_INFER][0])),
        ("ovserve REST TFS", functools.partial(run_wrk, f"{rest}/v1/models/{name}:predict", tfs_json)),
        (
            "ovserve REST v2 bin",
            functools.partial(run_wrk, f"{rest}/v2/models/{name}/infer", v2_binary, header_length=header_length),
        ),
    ]
    results: list[Result] = []
    proc = Proc(argv, port, READY_PATH, os.path.join(OUT, f"grpc-ovserve-{name}.log"))
    try:
        for path, (_, data) in bodies.items():
            check_call(gport, path, data, hello=False)
        for label, run in points:
            results += measure(proc, label, run, concurrencies, a.duration)
    finally:
        proc.stop()
    nport = free_port()
    naive_argv = [sys.executable, os.path.join(HERE, "grpc_naive_server.py"), str(nport), model_xml(model_dir)]
    naive = Proc(naive_argv, nport, "", os.path.join(OUT, f"grpc-naive-{name}.log"))
    try:
        for path, (_, data) in bodies.items():
            check_call(nport, path, data, hello=False)
        for label, path in (("naive", PREDICT), ("naive KServe", MODEL_INFER)):
            run = functools.partial(run_h2load, nport, path, bodies[path][0])
            results += measure(naive, label, run, concurrencies, a.duration)
    finally:
        naive.stop()
    hport = free_port()
    hello_argv = [sys.executable, os.path.join(HERE, "grpc_hello_server.py"), str(hport), str(a.grpc_workers)]
    hello = Proc(hello_argv, hport, "", os.path.join(OUT, f"grpc-hello-{name}.log"))
    try:
        check_call(hport, PREDICT, bodies[PREDICT][1], hello=True)
        run = functools.partial(run_h2load, hport, PREDICT, bodies[PREDICT][0])
        results += measure(hello, "grpc.aio hello", run, concurrencies, a.duration)
    finally:
        hello.stop()
    print_table(name, shape, results, ceiling, hello="grpc.aio hello")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="dummy,cnn")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--grpc_workers", type=int, default=1, help="ovserve gRPC front processes (and hello's)")
    p.add_argument("--extra", default="", help="extra ovserve flags")
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    ensure_wrk()
    ensure_h2load()
    cpus = len(os.sched_getaffinity(0))
    print(f"# machine: {cpus} CPUs ({cpu_model()}); gRPC fronts={a.grpc_workers}; {a.duration:.0f}s per point")
    for name in a.models.split(","):
        bench_model(a, name, [int(c) for c in a.concurrency.split(",")])


if __name__ == "__main__":
    main()
