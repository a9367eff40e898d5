"""Refused streams: OVMS's gRPC client patterns against ovserve's gRPC port under several stream
settings, interleaved in one run. Each pattern counts calls, errors (by status and text) and
seconds: 16 channels x 200 sequential calls, 64 calls in flight on one channel (2,000 calls), a
burst of 256 calls at connection start (OVMS's ``grpc_async_infer_resnet.py`` keeps 10 in flight).

    python bench/grpc_streams.py                    # every setting, 3 rounds
    python bench/grpc_streams.py --rounds 1 --settings default ovms

The settings are ``--grpc_channel_arguments`` values; ``default`` is ovserve's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ovserve.frontend.grpc_api.proto import grpc_predict_v2_pb2 as kserve

from bench.harness import OUT, READY_PATH, Proc, make_models, ovserve_argv
from ovserve.cpuplan import allowed_cpus
from tests.server_util import free_port

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
CORES = len(allowed_cpus())
SETTINGS = {
    "default": "",  # ovserve's: the core count, overload protection off
    # OVMS's own: streams per connection = cores, gRPC's overload protection on
    "ovms": f"grpc.max_concurrent_streams={CORES},grpc.http.overload_protection=1",
    "16, exact": "grpc.max_concurrent_streams=16,grpc.http.overload_protection=0",
    "64, exact": "grpc.max_concurrent_streams=64,grpc.http.overload_protection=0",
    "256, exact": "grpc.max_concurrent_streams=256,grpc.http.overload_protection=0",
    "1000, protected": "grpc.max_concurrent_streams=1000",
}
Pattern = Callable[[str, bytes], Coroutine[Any, Any, tuple[int, Counter[str]]]]


async def _call(channel: grpc.aio.Channel, request: bytes, errors: Counter[str]) -> None:
    call = channel.unary_unary(MODEL_INFER)
    try:
        await call(request, timeout=60)
    except grpc.RpcError as exc:
        errors[f"{exc.code().name}: {(exc.details() or '')[:60]}"] += 1


async def channels(address: str, request: bytes, count: int = 16, calls: int = 200) -> tuple[int, Counter[str]]:
    errors: Counter[str] = Counter()

    async def one(i: int) -> None:
        # a channel option unique to each channel: its own connection, as separate clients have
        async with grpc.aio.insecure_channel(address, options=[("bench.channel", i)]) as channel:
            for _ in range(calls):
                await _call(channel, request, errors)

    await asyncio.gather(*[one(i) for i in range(count)])
    return count * calls, errors


async def in_flight(address: str, request: bytes, depth: int = 64, total: int = 2000) -> tuple[int, Counter[str]]:
    errors: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(address) as channel:
        gate = asyncio.Semaphore(depth)

        async def one() -> None:
            async with gate:
                await _call(channel, request, errors)

        await asyncio.gather(*[one() for _ in range(total)])
    return total, errors


async def burst(address: str, request: bytes, count: int = 256) -> tuple[int, Counter[str]]:
    errors: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(address) as channel:
        await asyncio.gather(*[_call(channel, request, errors) for _ in range(count)])
    return count, errors


PATTERNS: dict[str, Pattern] = {"burst 256": burst, "16 channels": channels, "64 in flight": in_flight}


def request_bytes(shape: list[int]) -> bytes:
    r = kserve.ModelInferRequest(model_name="dummy")
    t = r.inputs.add(name="b", datatype="FP32", shape=shape)
    r.raw_input_contents.append(np.zeros(shape, np.float32).tobytes())
    assert t.name == "b"
    return r.SerializeToString()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    model_dir, shape = make_models()["dummy"]
    request = request_bytes(shape)
    rows: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
    errors_seen: dict[tuple[str, str], Counter[str]] = {}
    for _ in range(args.rounds):
        for name in args.settings:
            rest, grpc_port = free_port(), free_port()
            argv = [*ovserve_argv("dummy", model_dir, rest), "--port", str(grpc_port)]
            argv += ["--grpc_bind_address", "127.0.0.1"]
            if SETTINGS[name]:
                argv += ["--grpc_channel_arguments", SETTINGS[name]]
            server = Proc(argv, rest, READY_PATH, os.path.join(OUT, f"grpc_streams_{name.replace(', ', '_')}.log"))
            try:
                for pattern, run in PATTERNS.items():
                    start = time.perf_counter()
                    calls, errors = asyncio.run(run(f"127.0.0.1:{grpc_port}", request))
                    seconds = time.perf_counter() - start
                    rows.setdefault((name, pattern), []).append((calls, sum(errors.values()), seconds))
                    errors_seen.setdefault((name, pattern), Counter()).update(errors)
            finally:
                server.stop()
    print(f"\n{CORES} CPUs, {args.rounds} round(s)\n")
    print("| setting | pattern | calls | errors | calls/s (best) |")
    print("|---|---|---|---|---|")
    for (name, pattern), results in rows.items():
        calls = sum(r[0] for r in results)
        errs = sum(r[1] for r in results)
        best = max(r[0] / r[2] for r in results)
        print(f"| {name} | {pattern} | {calls} | {errs} | {best:,.0f} |")
    for key, errors in errors_seen.items():
        for text, n in errors.items():
            print(f"{key[0]} / {key[1]}: {n} x {text}")


if __name__ == "__main__":
    main()
