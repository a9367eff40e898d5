"""Round-trip cost of the data-plane transport: ZeroMQ DEALER/ROUTER over ipc:// against a plain
Unix stream socket with the same 4-byte length framing, for a 200-byte descriptor.

Why it exists: ZeroMQ hands every message to an I/O thread in each process (four thread wake-ups
per round trip), which a 2-vCPU VM pays for in CPU; the front's profile showed zmq's send as its
top item. This measures what the data plane costs per request in both forms, in one run.

    python bench/ipc_cost.py                 # depths 1, 4 and 16 (requests in flight)
    python bench/ipc_cost.py --count 50000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import struct
import tempfile
import time
from collections.abc import Callable
from typing import Any

import zmq

LENGTH = struct.Struct("<I")


def _echo_zmq(address: str, count: int) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.connect(address)
    for _ in range(count):
        sock.send_multipart(sock.recv_multipart())


def _recv_frame(sock: socket.socket, buffer: bytearray) -> bytes:
    while len(buffer) < 4 or len(buffer) < 4 + LENGTH.unpack_from(buffer)[0]:
        buffer += sock.recv(1 << 16)
    n = LENGTH.unpack_from(buffer)[0]
    data = bytes(buffer[4 : 4 + n])
    del buffer[: 4 + n]
    return data


def _echo_unix(path: str, count: int) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    buffer = bytearray()
    for _ in range(count):
        data = _recv_frame(sock, buffer)
        sock.sendall(LENGTH.pack(len(data)) + data)


def run(transport: str, depth: int, count: int, folder: str) -> tuple[float, float]:
    """(round trips per second, client CPU microseconds per round trip incl. its I/O thread)."""
    message = b"x" * 200
    spawn = mp.get_context("spawn")
    if transport == "zmq":
        address = "ipc://" + os.path.join(folder, f"zmq-{depth}")
        ctx = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        dealer.bind(address)
        peer = spawn.Process(target=_echo_zmq, args=(address, count))
        peer.start()
        send: Callable[[bytes], Any] = dealer.send
        receive: Callable[[], Any] = dealer.recv
        close: Callable[[], Any] = dealer.close
    else:
        path = os.path.join(folder, f"unix-{depth}")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        peer = spawn.Process(target=_echo_unix, args=(path, count))
        peer.start()
        client, _ = listener.accept()
        buffer = bytearray()
        framed = LENGTH.pack(len(message)) + message
        send = lambda _m: client.sendall(framed)  # noqa: E731
        receive = lambda: _recv_frame(client, buffer)  # noqa: E731
        close = client.close
    time.sleep(0.5)
    started, cpu = time.perf_counter(), time.process_time()
    sent = received = 0
    while received < count:
        while sent < count and sent - received < depth:
            send(message)
            sent += 1
        receive()
        received += 1
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peer.join()
    close()
    return count / wall, cpu / count * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--depths", default="1,4,16")
    a = p.parse_args()
    print(f"# {os.cpu_count()} CPUs; {a.count} round trips of a 200-byte message per point")
    print("| depth | transport | round trips/s | client CPU us per round trip | x zmq (CPU) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for depth in (int(d) for d in a.depths.split(",")):
            base = None
            for transport in ("zmq", "unix"):
                rate, cpu = run(transport, depth, a.count, folder)
                base = base or cpu
                print(f"| {depth} | {transport} | {rate:.0f} | {cpu:.1f} | {cpu / base:.2f} |")


if __name__ == "__main__":
    main()
