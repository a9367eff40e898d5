"""Scale-out: two ovserve replicas behind Debian's haproxy with deploy/haproxy/haproxy.cfg
(health-checked on /v2/health/ready). Killing one replica under load costs at most its in-flight
requests; a rolling config change across both loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import modelgen
from tests.debian_tools import debian_tool
from tests.server_util import ROOT, Server, free_port, wait_ok

pytestmark = pytest.mark.slow

CLIENTS = 8
BODY = {"instances": [[1.0] * 10]}


@pytest.fixture(scope="module")
def haproxy_bin() -> str:
    return debian_tool("haproxy", "haproxy")


class Load:
    """CLIENTS threads predicting through the balancer; every answer is kept with its time."""

    def __init__(self, url: str) -> None:
        self.url, self.stop = url, threading.Event()
        self.results: list[tuple[float, Any]] = []  # (time, status or error)
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]

    def _client(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            try:
                r = session.post(self.url, json=BODY, timeout=30)
                ok = r.status_code == 200 and r.json()["predictions"][0][0] in (2.0, 3.0)  # v1 or v2
                outcome = "ok" if ok else f"{r.status_code} {r.text[:80]}"
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            self.results.append((time.monotonic(), outcome))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def failures(self) -> list[tuple[float, str]]:
        return [(t, o) for t, o in self.results if o != "ok"]


def replica(models: Path, index: int, log_dir: Path, port: int) -> Server:
    folder = log_dir / f"replica{index}"
    folder.mkdir(exist_ok=True)
    config = folder / "config.json"
    config.write_text(json.dumps({"model_config_list": [{"config": {"name": "dummy", "base_path": str(models)}}]}))
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "0"]
    return Server(args, str(folder / "log"), port=port)  # a fixed port: the balancer names it


@pytest.fixture
def cluster(haproxy_bin: str, tmp_path: Path) -> Iterator[tuple[str, list[Server], Path]]:
    models = tmp_path / "dummy"
    modelgen.dummy(str(models))
    ports = [free_port(), free_port()]
    front = free_port()
    servers = [replica(models, i + 1, tmp_path, p) for i, p in enumerate(ports)]
    cfg = (Path(ROOT) / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    cfg = cfg.replace("127.0.0.1:8080", f"127.0.0.1:{front}").replace("127.0.0.1:8001", f"127.0.0.1:{ports[0]}")
    cfg = cfg.replace("127.0.0.1:8002", f"127.0.0.1:{ports[1]}")
    (tmp_path / "haproxy.cfg").write_text(cfg)
    with open(tmp_path / "haproxy.log", "wb") as log:
        balancer = subprocess.Popen([haproxy_bin, "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=log, stderr=log)
    try:
        for s in servers:
            s.wait_ready()
        url = f"http://127.0.0.1:{front}/v1/models/dummy:predict"
        wait_ok(url, 30, BODY)  # both replicas up in haproxy's eyes (rise 2 x 500 ms)
        time.sleep(1.5)
        yield url, servers, models
    finally:
        balancer.terminate()
        balancer.wait(10)
        for s in servers:
            s.stop()


def test_killing_a_replica_costs_at_most_its_in_flight_requests(cluster: tuple[str, list[Server], Path]) -> None:
    url, servers, _ = cluster
    with Load(url) as load:
        time.sleep(1.5)
        killed = time.monotonic()
        servers[0].proc.send_signal(signal.SIGKILL)  # the supervisor; its children die with it
        time.sleep(3.0)
    failures = load.failures()
    served = len(load.results) - len(failures)
    assert served > 100, load.results[-5:]
    assert len(failures) <= CLIENTS, failures  # at most the requests in flight on the killed replica
    assert all(t - killed < 1.0 for t, _ in failures), failures  # and only at the moment it died
    print(f"kill under load: {served} served, {len(failures)} failed ({failures})")


def test_a_rolling_config_change_loses_nothing(cluster: tuple[str, list[Server], Path]) -> None:
    url, servers, models = cluster
    with Load(url) as load:
        time.sleep(1.0)
        modelgen.dummy(str(models), version=2, add=2.0)  # the new version both replicas will serve
        for s in servers:  # one replica after the other, as a rollout does
            r = requests.post(s.url + "/v1/config/reload", timeout=60)
            assert r.status_code in (200, 201), r.text
            time.sleep(1.0)
    failures = load.failures()
    assert not failures, failures[:5]
    answers = [o for _, o in load.results]
    assert len(answers) > 100
    after = requests.post(url, json=BODY, timeout=10).json()["predictions"][0][0]
    assert after == 3.0  # version 2 everywhere
    print(f"rolling reload: {len(answers)} served, 0 failed")
