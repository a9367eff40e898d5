"""Chaos soak: steady mixed load (TFS REST, KServe REST, TFS gRPC, KServe gRPC) while fronts and
workers are SIGKILLed at random and versions are added and removed. Every request gets a right
answer or a fast error of the allowed kinds, none outlives its deadline; afterwards every
process is back, RSS and descriptors are near their warm-up values, and SIGTERM leaves nothing.

OVSERVE_CHAOS_SECONDS sets the duration (default 180)."""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
import psutil
import pytest
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as pb
from ovserve.frontend.grpc_api.proto import tf_serving_pb2_grpc as pb_grpc
from ovserve.frontend.grpc_api.proto import tf_tensor_pb2 as tf

# KServe messages from Triton's client (ovserve's define the same package "inference", and one
# process can hold only one of them: the KServe gRPC tests use Triton's too)
from tritonclient.grpc import service_pb2 as kpb
from tritonclient.grpc import service_pb2_grpc as kpb_grpc

from tests import modelgen
from tests.server_util import Server, write_json

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("OVSERVE_CHAOS_SECONDS", "180"))
DEADLINE = 5.0  # --request_timeout_seconds
LATE = DEADLINE + 3.0  # an answer later than this is a hang
CUT_WINDOW = 3.0  # a cut connection is allowed this long after an HTTP front was killed
RSS_BOUND = 64 * 2**20
FD_BOUND = 8
X = np.ones((1, 10), np.float32)
Picker = Callable[[Any], Any]
REST_BODY = json.dumps({"instances": X.tolist()}).encode()
KSERVE_INPUT = {"name": "b", "shape": [1, 10], "datatype": "FP32", "data": X.ravel().tolist()}
KSERVE_BODY = json.dumps({"inputs": [KSERVE_INPUT]}).encode()


@dataclass
class Outcomes:
    kinds: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    longest: float = 0.0
    gaps: dict[str, float] = field(default_factory=dict)  # client -> longest time without a right answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, took: float, bad: str = "") -> None:
        with self.lock:
            self.kinds[kind] += 1
            self.longest = max(self.longest, took)
            if bad or took > LATE:
                self.bad.append(f"{kind} after {took:.2f}s {bad}")


class Gap:
    """One client's longest stretch without a right answer."""

    def __init__(self, outcomes: Outcomes, name: str) -> None:
        self.outcomes, self.name, self.last = outcomes, name, time.monotonic()

    def ok(self) -> None:
        now = time.monotonic()
        self.outcomes.gaps[self.name] = max(self.outcomes.gaps.get(self.name, 0.0), now - self.last)
        self.last = now


class Chaos:
    def __init__(self, server: Server, repo: str) -> None:
        self.server, self.repo = server, repo
        self.stop = threading.Event()
        self.outcomes = Outcomes()
        self.front_killed_at = -1e9
        self.versions = {1}  # on disk now
        self.ever = {1}
        self.actions: Counter[str] = Counter()
        self.recoveries: dict[str, list[float]] = {"front": [], "grpc front": [], "worker": []}
        self.rng = random.Random(7)
        self.with_n = False
        self.reloads: Counter[int | str] = Counter()

    def newest(self) -> tuple[str, int | None]:
        number = max(self.ever)
        return f"/v1/models/m/versions/{number}:predict", number

    # ---- load ----------------------------------------------------------------------------------
    def right(self, values: np.ndarray, version: int | None) -> bool:
        values = np.asarray(values, np.float32).ravel()
        if values.size != 10 or not np.all(values == values[0]):
            return False
        found = round(float(values[0]) - 1.0)
        return found == version if version is not None else found in self.ever

    def rest_client(self, name: str, target: Callable[[], tuple[str, int | None]], body: bytes, pick: Picker) -> None:
        """``target``: the path and the version whose answer is right (None: any served)."""
        conn: http.client.HTTPConnection | None = None
        gap = Gap(self.outcomes, name)
        while not self.stop.is_set():
            path, version = target()
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=LATE + 5)
                conn.request("POST", path, body=body)
                r = conn.getresponse()
                data, code = r.read(), r.status
            except (OSError, http.client.HTTPException) as exc:
                took = time.monotonic() - started
                conn = None
                recent = time.monotonic() - self.front_killed_at < CUT_WINDOW + took
                kind = "rest cut by a front kill" if recent else "rest cut"
                self.outcomes.add(kind, took, "" if recent else repr(exc))
                continue
            took = time.monotonic() - started
            answer = json.loads(data)
            if code == 200:
                ok = self.right(pick(answer), version)
                self.outcomes.add("rest 200", took, "" if ok else f"wrong answer {answer}")
                gap.ok()
            elif code in (503, 504) or (code == 404 and version != 1):
                self.outcomes.add(f"rest {code}", took, "" if "error" in answer else f"no error text {answer}")
            else:
                self.outcomes.add(f"rest {code}", took, f"unexpected {answer}")

    def grpc_client(self, kind: str) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.server.grpc_port}")
        tfs, kserve = pb_grpc.PredictionServiceStub(channel), kpb_grpc.GRPCInferenceServiceStub(channel)
        shape = tf.TensorShapeProto(dim=[tf.TensorShapeProto.Dim(size=d) for d in X.shape])
        tfs_request = pb.PredictRequest(
            inputs={"b": tf.TensorProto(dtype=tf.DT_FLOAT, tensor_shape=shape, tensor_content=X.tobytes())}
        )
        tfs_request.model_spec.name = "m"
        tfs_request.model_spec.version.value = 1
        tensor = kpb.ModelInferRequest.InferInputTensor(name="b", datatype="FP32", shape=[1, 10])
        kserve_request = kpb.ModelInferRequest(
            model_name="m", model_version="1", inputs=[tensor], raw_input_contents=[X.tobytes()]
        )
        gap = Gap(self.outcomes, f"grpc {kind}")
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                if kind == "tfs":
                    out = tfs.Predict(tfs_request, timeout=LATE + 5).outputs["a"].tensor_content
                else:
                    out = kserve.ModelInfer(kserve_request, timeout=LATE + 5).raw_output_contents[0]
                took = time.monotonic() - started
                ok = self.right(np.frombuffer(out, np.float32), 1)
                self.outcomes.add(f"grpc {kind} OK", took, "" if ok else "wrong answer")
                gap.ok()
            except grpc.RpcError as exc:
                took = time.monotonic() - started
                code = exc.code()
                allowed = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                self.outcomes.add(f"grpc {kind} {code.name}", took, "" if allowed else str(exc.details()))
                if code == grpc.StatusCode.UNAVAILABLE:
                    time.sleep(0.05)  # the front is being respawned
        channel.close()

    # ---- faults --------------------------------------------------------------------------------
    def children(self) -> dict[str, list[psutil.Process]]:
        roles: dict[str, list[psutil.Process]] = {"front": [], "grpc front": [], "worker": []}
        for p in psutil.Process(self.server.proc.pid).children():
            try:
                line = " ".join(p.cmdline())
            except psutil.NoSuchProcess:
                continue
            if "ovserve.frontend.grpc_front" in line:
                roles["grpc front"].append(p)
            elif "ovserve.frontend" in line:
                roles["front"].append(p)
            elif "ovserve.workers" in line:
                roles["worker"].append(p)
        return roles

    def kill(self, role: str) -> None:
        before = self.children()
        victim = self.rng.choice(before[role])
        if role == "front":
            self.front_killed_at = time.monotonic()
        killed = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        while time.monotonic() - killed < 30:
            now = self.children()[role]
            if len(now) == len(before[role]) and victim.pid not in {p.pid for p in now}:
                break
            time.sleep(0.05)
        self.recoveries[role].append(time.monotonic() - killed)

    def add_version(self) -> None:
        number = max(self.ever) + 1
        staging = os.path.join(self.repo, "staging")
        modelgen.dummy(staging, version=number, add=float(number))
        os.rename(os.path.join(staging, str(number)), os.path.join(self.repo, "m", str(number)))
        self.versions.add(number)
        self.ever.add(number)

    def remove_version(self) -> None:
        removable = sorted(self.versions - {1})
        if removable:
            number = self.rng.choice(removable)
            shutil.rmtree(os.path.join(self.repo, "m", str(number)))
            self.versions.discard(number)

    def reload_config(self) -> None:
        """Add or remove the second model in the config file (atomically), then reload."""
        self.with_n = not self.with_n
        write_config(self.repo, ["m", "n"] if self.with_n else ["m"])
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            conn.request("POST", "/v1/config/reload")
            r = conn.getresponse()
            r.read()
            self.reloads[r.status] += 1
        except (OSError, http.client.HTTPException):
            self.reloads["cut by a front kill"] += 1  # its front may have been killed meanwhile
        finally:
            conn.close()

    def faults(self) -> None:
        actions = [
            ("reload config", self.reload_config),
            ("kill front", lambda: self.kill("front")),
            ("kill grpc front", lambda: self.kill("grpc front")),
            ("kill worker", lambda: self.kill("worker")),
            ("add version", self.add_version),
            ("remove version", self.remove_version),
        ]
        while not self.stop.wait(self.rng.uniform(1.0, 3.0)):
            name, action = self.rng.choice(actions)
            action()
            self.actions[name] += 1


def write_config(repo: str, names: list[str]) -> None:
    entries = [{"config": {"name": n, "base_path": n, "model_version_policy": {"all": {}}}} for n in names]
    write_json(os.path.join(repo, "config.json"), {"model_config_list": entries})


def snapshot(chaos: Chaos) -> dict[str, tuple[int, int]]:
    """Per role, the largest RSS and descriptor count of its processes (respawns are new pids)."""
    supervisor = psutil.Process(chaos.server.proc.pid)
    out = {"supervisor": (supervisor.memory_info().rss, supervisor.num_fds())}
    for role, procs in chaos.children().items():
        out[role] = (max(p.memory_info().rss for p in procs), max(p.num_fds() for p in procs))
    return out


@pytest.mark.timeout(900)
def test_chaos_soak(tmp_path_factory: pytest.TempPathFactory) -> None:
    repo = str(tmp_path_factory.mktemp("chaos"))
    modelgen.dummy(os.path.join(repo, "m"), version=1, add=1.0)
    modelgen.dummy(os.path.join(repo, "n"), version=1, add=1.0)
    config = os.path.join(repo, "config.json")
    write_config(repo, ["m"])
    args = ["--config_path", config, "--file_system_poll_wait_seconds", "1", "--front_processes", "2"]
    args += ["--worker_processes", "2", "--request_timeout_seconds", str(DEADLINE), "--shutdown_grace_seconds", "5"]
    server = Server(args, str(tmp_path_factory.mktemp("logs") / "chaos.log"), grpc=True)
    try:
        server.wait_ready()
        chaos = Chaos(server, repo)
        tfs = lambda a: a["predictions"]  # noqa: E731
        kserve = lambda a: a["outputs"][0]["data"]  # noqa: E731
        v1 = lambda: ("/v1/models/m/versions/1:predict", 1)  # noqa: E731
        default = lambda: ("/v1/models/m:predict", None)  # noqa: E731
        kserve_v1 = lambda: ("/v2/models/m/versions/1/infer", 1)  # noqa: E731
        clients = [
            threading.Thread(target=chaos.rest_client, args=("tfs rest v1", v1, REST_BODY, tfs)),
            threading.Thread(target=chaos.rest_client, args=("tfs rest default", default, REST_BODY, tfs)),
            threading.Thread(target=chaos.rest_client, args=("tfs rest newest", chaos.newest, REST_BODY, tfs)),
            threading.Thread(target=chaos.rest_client, args=("kserve rest v1", kserve_v1, KSERVE_BODY, kserve)),
            threading.Thread(target=chaos.grpc_client, args=("tfs",)),
            threading.Thread(target=chaos.grpc_client, args=("kserve",)),
        ]
        for t in clients:
            t.start()
        time.sleep(5)  # warm-up
        warm = snapshot(chaos)
        faults = threading.Thread(target=chaos.faults)
        started = time.monotonic()
        faults.start()
        time.sleep(SECONDS)
        chaos.stop.set()
        faults.join()
        for t in clients:
            t.join()
        took = time.monotonic() - started
        time.sleep(3)  # the last respawn and reload settle
        roles = chaos.children()
        after = snapshot(chaos)
        o = chaos.outcomes
        recovery = {r: f"max {max(v):.2f}s over {len(v)}" for r, v in chaos.recoveries.items() if v}
        print(
            f"\nchaos soak {took:.0f}s: {sum(o.kinds.values())} requests {dict(sorted(o.kinds.items()))}; "
            f"longest answer {o.longest:.2f}s; faults {dict(chaos.actions)}; reloads {dict(chaos.reloads)}; "
            f"versions ever {max(chaos.ever)}; longest gaps without a right answer "
            + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(o.gaps.items()))
            + "; "
            f"recovery {recovery}; RSS/fds warm -> after "
            + ", ".join(
                f"{r} {warm[r][0] / 2**20:.0f}->{after[r][0] / 2**20:.0f} MiB {warm[r][1]}->{after[r][1]}" for r in warm
            )
        )
        assert not o.bad, o.bad[:20]
        assert set(chaos.reloads) <= {200, 201, "cut by a front kill"}, chaos.reloads
        assert [len(roles[r]) for r in ("front", "grpc front", "worker")] == [2, 1, 2]
        for role, (rss, fds) in warm.items():
            assert after[role][0] - rss < RSS_BOUND, role
            assert after[role][1] - fds <= FD_BOUND, role
        assert o.kinds["rest 200"] > 0 and o.kinds["grpc tfs OK"] > 0 and o.kinds["grpc kserve OK"] > 0
    finally:
        code = server.stop()
    assert code == 0
    assert server.leftovers() == []
