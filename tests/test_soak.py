"""No leaks: after many mixed valid and invalid requests, every process's RSS, open files and
the shared-memory segments are back within a small bound of their values after warm-up.

OVSERVE_SOAK_REQUESTS sets the count (default 100000)."""

from __future__ import annotations

import glob
import http.client
import json
import os
import threading
import time

import psutil
import pytest

from tests.server_util import Server

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("OVSERVE_SOAK_REQUESTS", "100000"))
THREADS = 8
RSS_BOUND = 24 * 1024 * 1024
CASES: list[tuple[str, str, bytes, int]] = [
    ("POST", "/v1/models/dummy:predict", json.dumps({"instances": [[1.0] * 10]}).encode(), 200),
    ("POST", "/v1/models/dyn:predict", json.dumps({"inputs": [[2.0] * 10] * 7}).encode(), 200),
    ("POST", "/v1/models/two:predict", json.dumps({"inputs": {"a": [[1, 2, 3]], "b": [[1, 2]]}}).encode(), 200),
    ("POST", "/v1/models/dyn:predict", json.dumps({"instances": [[0.5] * 10] * 300}).encode(), 200),
    ("POST", "/v1/models/dummy:predict", b'{"instances": [[1,2,3]]}', 400),
    ("POST", "/v1/models/dummy:predict", b"{broken", 412),
    ("POST", "/v1/models/nope:predict", b"{}", 404),
    ("GET", "/v1/models/dummy/metadata", b"", 200),
    ("POST", "/v1/models/dummy:predict", b'{"instances": [[1,2,3,4,5,6,7,8,9,null]]}', 400),
    ("PUT", "/v1/config", b"", 406),
]


def snapshot(server: Server) -> dict[str, tuple[int, int]]:
    procs = [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children()]
    return {f"{' '.join(p.cmdline()[2:5])} ({p.pid})": (p.memory_info().rss, p.num_fds()) for p in procs}


def segments(server: Server) -> int:
    return len(glob.glob(f"/dev/shm/ovserve-{server.proc.pid}-*"))


def hammer(server: Server, count: int) -> dict[int, int]:
    codes: dict[int, int] = {}
    lock = threading.Lock()

    def run(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        local: dict[int, int] = {}
        for i in range(offset, count, THREADS):
            method, path, body, expected = CASES[i % len(CASES)]
            conn.request(method, path, body=body)
            r = conn.getresponse()
            r.read()
            assert r.status == expected, (path, r.status)
            local[r.status] = local.get(r.status, 0) + 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.close()
        with lock:
            for k, v in local.items():
                codes[k] = codes.get(k, 0) + v

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def test_no_leaks(config_server: Server) -> None:
    hammer(config_server, 5000)  # warm-up: allocators, caches, connections
    before, seg_before = snapshot(config_server), segments(config_server)
    started = time.monotonic()
    codes = hammer(config_server, REQUESTS)
    took = time.monotonic() - started
    time.sleep(0.5)
    after, seg_after = snapshot(config_server), segments(config_server)
    lines = [
        f"soak: {REQUESTS} requests in {took:.1f}s, codes {dict(sorted(codes.items()))}; "
        f"shm segments {seg_before} -> {seg_after}"
    ]
    for name, (rss, fds) in before.items():
        rss2, fds2 = after[name]
        lines.append(f"  {name}: RSS {rss / 2**20:.1f} -> {rss2 / 2**20:.1f} MiB, fds {fds} -> {fds2}")
        assert rss2 - rss < RSS_BOUND, name
        assert fds2 - fds <= 2, name
    print("\n".join(lines))
    assert sum(codes.values()) == REQUESTS
    assert seg_after == seg_before
