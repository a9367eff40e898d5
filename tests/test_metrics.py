"""Metrics: OVMS's families and layout on ``/metrics``, counted exactly across every front and
worker, kept through process restarts and reloads, and scraped by a real Prometheus."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import ovmsclient
import psutil
import pytest
import requests
import tritonclient.grpc as triton_grpc
from ovserve.shared import metrics_layout as L
from ovserve.shared.metrics_cells import cells_path, totals

from tests import modelgen
from tests.debian_tools import debian_tool
from tests.metrics_util import Sample, parse, requests_of, scrape, value
from tests.server_util import Server, free_port

ALL = [f.name for f in L.MODEL_FAMILIES]
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
BODY = {"instances": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}
V2_BODY: dict[str, Any] = {"inputs": [{"name": "b", "shape": [1, 10], "datatype": "FP32", "data": list(range(10))}]}
TFS, KS = "TensorFlowServing", "KServe"


def write_config(base: Path, names: list[str]) -> None:
    models: list[dict[str, dict[str, Any]]] = [
        {"config": {"name": n, "base_path": n, "model_version_policy": {"all": {}}}} for n in names
    ]
    for m in models:
        if m["config"]["name"] == "idle":
            m["config"]["nireq"] = 3  # reported by ovms_infer_req_queue_size, as OVMS's pool size
    doc = {"model_config_list": models, "monitoring": {"metrics": {"enable": True, "metrics_list": ALL}}}
    (base / "config.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("metrics_models")
    for name in ("dummy", "idle", "grow", "extra"):
        modelgen.dummy(str(base / name))
    write_config(base, ["dummy", "idle", "grow"])
    return base


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two HTTP fronts, one gRPC front, two workers: every count is a sum over processes."""
    log = str(tmp_path_factory.mktemp("logs") / "metrics_server.log")
    args = ["--config_path", str(models / "config.json"), "--file_system_poll_wait_seconds", "0"]
    s = Server([*args, "--front_processes", "2", "--worker_processes", "2"], log, grpc=True)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def children(s: Server, module: str) -> list[psutil.Process]:
    found = []
    for p in psutil.Process(s.proc.pid).children():
        try:
            if module in p.cmdline():
                found.append(p)
        except psutil.Error:  # just killed: a zombie until the supervisor reaps it
            pass
    return found


def predict(s: Server, model: str = "dummy", body: Any = BODY) -> int:
    return requests.post(f"{s.url}/v1/models/{model}:predict", json=body, timeout=30).status_code


def counters(samples: dict[Sample, float]) -> dict[Sample, float]:
    """Everything but the gauges (which measure the present, not what was counted)."""
    gauges = {f.name for f in L.MODEL_FAMILIES if f.kind == "gauge"}
    return {k: v for k, v in samples.items() if k[0] not in gauges}


def test_exposition_as_ovms_writes_it(server: Server) -> None:
    r = requests.get(server.url + "/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
    lines = r.text.splitlines()
    heads = [line for line in lines if line.startswith("# ")]
    expected = []
    for f in L.MODEL_FAMILIES:
        expected += [f"# HELP {f.name} {f.help}", f"# TYPE {f.name} {f.kind}"]
    assert heads == expected
    # a loaded, never-used version: every series exists at 0, labels in alphabetical order
    assert 'ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="idle",version="1"} 0' in lines
    assert 'ovms_requests_fail{api="TensorFlowServing",interface="gRPC",method="GetModelStatus",name="idle"} 0' in lines
    assert 'ovms_requests_success{api="KServe",interface="gRPC",method="ModelReady",name="idle"} 0' in lines
    samples = parse(r.text)
    idle = [k for k in samples if ("name", "idle") in k[1] and k[0].startswith("ovms_requests_")]
    assert len(idle) == 24 and all(samples[k] == 0 for k in idle)  # 12 series each
    histogram = [line for line in lines if line.startswith("ovms_inference_time_us") and 'name="idle"' in line]
    assert histogram[0] == 'ovms_inference_time_us_count{name="idle",version="1"} 0'
    assert histogram[1] == 'ovms_inference_time_us_sum{name="idle",version="1"} 0'
    les = [line.split('le="')[1].split('"')[0] for line in histogram[2:]]
    assert les == [str(b) for b in L.BUCKETS] + ["+Inf"] and les[-2] == "1474755971"
    assert value(samples, "ovms_streams", name="idle", version="1") == 2  # one stream in each of 2 workers
    assert value(samples, "ovms_infer_req_queue_size", name="idle", version="1") == 6  # nireq 3, 2 workers
    assert value(samples, "ovms_infer_req_queue_size", name="dummy", version="1") == 2  # OpenVINO's optimum: 1
    assert requests.get(server.url + "/metrics?name=x", timeout=10).status_code == 200  # query discarded
    assert requests.post(server.url + "/metrics", timeout=10).status_code == 406


def test_counts_are_exact_across_processes(server: Server) -> None:
    before = scrape(server.url)
    for _ in range(60):  # a new connection each: the kernel spreads them over both HTTP fronts
        assert predict(server) == 200
    for _ in range(10):
        assert requests.post(f"{server.url}/v2/models/dummy/infer", json=V2_BODY, timeout=30).status_code == 200
    for path in ("/v1/models/dummy/metadata", "/v1/models/dummy", "/v2/models/dummy/ready", "/v2/models/dummy"):
        for _ in range(5):
            assert requests.get(server.url + path, timeout=30).status_code == 200
    for _ in range(4):
        assert predict(server, body={"instances": [[1, 2]]}) == 400  # found, then failed
    for _ in range(3):
        r = requests.post(f"{server.url}/v2/models/dummy/infer", json={"inputs": []}, timeout=30)
        assert r.status_code == 400
    assert predict(server, "nope") == 404  # an unknown model counts nowhere
    assert requests.post(f"{server.url}/v1/models/dummy/versions/7:predict", json=BODY, timeout=30).status_code == 404

    ovms = ovmsclient.make_grpc_client(f"127.0.0.1:{server.grpc_port}")
    x = np.arange(10, dtype=np.float32).reshape(1, 10)
    for _ in range(20):
        assert np.array_equal(ovms.predict(inputs={"b": x}, model_name="dummy"), x + 1)
    for _ in range(3):
        ovms.get_model_status(model_name="dummy")
        ovms.get_model_metadata(model_name="dummy")
    triton = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    for _ in range(15):
        tensor = triton_grpc.InferInput("b", [1, 10], "FP32")
        tensor.set_data_from_numpy(x)
        assert np.array_equal(triton.infer("dummy", [tensor]).as_numpy("a"), x + 1)
    for _ in range(3):
        assert triton.is_model_ready("dummy")
        triton.get_model_metadata("dummy")
    for _ in range(2):
        wrong = triton_grpc.InferInput("b", [1, 5], "FP32")
        wrong.set_data_from_numpy(np.zeros((1, 5), np.float32))
        with pytest.raises(triton_grpc.InferenceServerException) as refused:
            triton.infer("dummy", [wrong])
        # the server's answer, not the channel's (a refused stream would never be counted)
        assert refused.value.status() == "StatusCode.INVALID_ARGUMENT", refused.value
    after = scrape(server.url)

    def delta(outcome: str, api: str, method: str, interface: str) -> float:
        now = requests_of(after, outcome, "dummy", api, method, interface)
        return now - requests_of(before, outcome, "dummy", api, method, interface)

    assert delta("success", TFS, "Predict", "REST") == 60 and delta("fail", TFS, "Predict", "REST") == 4
    assert delta("success", KS, "ModelInfer", "REST") == 10 and delta("fail", KS, "ModelInfer", "REST") == 3
    for api, method in ((TFS, "GetModelMetadata"), (TFS, "GetModelStatus"), (KS, "ModelReady"), (KS, "ModelMetadata")):
        assert delta("success", api, method, "REST") == 5
        assert delta("success", api, method, "gRPC") == 3
    assert delta("success", TFS, "Predict", "gRPC") == 20
    assert delta("success", KS, "ModelInfer", "gRPC") == 15 and delta("fail", KS, "ModelInfer", "gRPC") == 2

    def grew(family: str, **labels: str) -> float:
        return value(after, family, **labels) - value(before, family, **labels)

    v1 = {"name": "dummy", "version": "1"}
    assert grew("ovms_request_time_us_count", interface="REST", **v1) == 70  # successful infers only
    assert grew("ovms_request_time_us_count", interface="gRPC", **v1) == 35
    assert grew("ovms_request_time_us_bucket", interface="gRPC", le="+Inf", **v1) == 35
    assert grew("ovserve_inferred_requests_total", **v1) == 105
    assert grew("ovms_wait_for_infer_req_time_us_count", **v1) == 105
    inferences = grew("ovserve_inferences_total", **v1)
    assert 0 < inferences <= 105 and grew("ovms_inference_time_us_count", **v1) == inferences
    assert value(after, "ovms_current_requests", **v1) == 0 and value(after, "ovms_infer_req_active", **v1) == 0
    # both HTTP fronts counted some of the REST predicts, and any front answers the same sums
    series = L.SUCCESS + L.SERIES_INDEX[(TFS, "Predict", "REST")]
    fronts = [totals([cells_path(server.proc.pid, "front", i)], 8)[:, series].sum() for i in (0, 1)]
    assert all(n > 0 for n in fronts), fronts
    # gauges measure the present (a version another test retired may still be winding down)
    assert all(counters(scrape(server.url)) == counters(after) for _ in range(4))


def test_restarted_processes_lose_and_repeat_nothing(server: Server) -> None:
    for _ in range(5):
        assert predict(server) == 200
    scraped = scrape(server.url)
    before = counters(scraped)
    streams = {k: v for k, v in scraped.items() if k[0] == "ovms_streams"}
    front = children(server, "ovserve.frontend")[0]
    worker = children(server, "ovserve.workers")[0]
    front.send_signal(signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = {p.pid for p in children(server, "ovserve.frontend") + children(server, "ovserve.workers")}
        samples = scrape(server.url)
        respawned = len(pids) == 4 and front.pid not in pids and worker.pid not in pids
        if respawned and {k: v for k, v in samples.items() if k[0] == "ovms_streams"} == streams:
            break  # every version is loaded again on the new worker: the module's next test finds it so
        time.sleep(0.2)
    else:
        raise AssertionError(f"not respawned:\n{server.read_log()[-3000:]}")
    assert counters(samples) == before
    for _ in range(10):
        assert predict(server) == 200
    after = scrape(server.url)
    got = requests_of(after, "success", "dummy", TFS, "Predict", "REST")
    assert got == requests_of(before, "success", "dummy", TFS, "Predict", "REST") + 10


def test_reload_keeps_counts_of_versions_that_stay(server: Server, models: Path) -> None:
    for _ in range(3):
        assert predict(server, "grow") == 200
    before = counters(scrape(server.url))
    modelgen.dummy(str(models / "grow"), version=2, add=2.0)
    write_config(models, ["dummy", "grow", "extra"])  # idle removed, extra added
    assert requests.post(server.url + "/v1/config/reload", timeout=120).status_code == 201
    after = scrape(server.url)
    for key, n in before.items():  # every series counted so far is still there, unchanged
        assert after[key] == n, key
    assert requests_of(after, "success", "grow", TFS, "Predict", "REST") >= 3
    fresh = [k for k in after if ("name", "extra") in k[1] or ("version", "2") in k[1]]
    assert fresh and all(after[k] == 0 for k in fresh if k[0] != "ovms_streams" and k[0] != "ovms_infer_req_queue_size")
    assert value(after, "ovms_streams", name="grow", version="2") == 2
    deadline = time.monotonic() + 10  # a retired version keeps its series; its gauges drop to 0
    while value(scrape(server.url), "ovms_streams", name="idle", version="1") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    write_config(models, ["dummy", "idle", "grow"])  # the module's config again: its tests run in any order
    assert requests.post(server.url + "/v1/config/reload", timeout=120).status_code == 201


def test_metrics_off_answers_as_ovms(single_server: Server) -> None:
    r = requests.get(single_server.url + "/metrics", timeout=10)
    assert r.status_code == 400 and r.text == '{"error":"Invalid request URL"}'
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


# ---- a real Prometheus ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    return debian_tool("prometheus", "prometheus")


def dashboard_queries() -> list[str]:
    """The PromQL of every panel of deploy/'s dashboard, its variables given values."""
    dashboard = json.loads((DEPLOY / "grafana" / "ovserve-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs
    return [e.replace("$model", ".*").replace("$__rate_interval", "15s") for e in exprs]


def test_promtool_accepts_the_exposition(server: Server, prometheus_bin: str) -> None:
    text = requests.get(server.url + "/metrics", timeout=10).text
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    # 0: clean; 3: lint remarks only. OVMS's own names break two naming conventions, which
    # ovserve keeps for the dashboards written against them; nothing else may be reported.
    assert r.returncode in (0, 3), r.stdout + r.stderr
    accepted = ('counter metrics should have "_total" suffix', "metric names should not contain abbreviated units")
    remarks = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert all(line.startswith("ovms_") and line.endswith(accepted) for line in remarks), remarks


@pytest.mark.slow
def test_real_prometheus_scrapes_ovserve(server: Server, prometheus_bin: str, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "prometheus.yml"  # deploy/'s example, pointed at this server, scraping every second
    example = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "localhost:8000" in example and "scrape_interval: 15s" in example
    config.write_text(
        example.replace("localhost:8000", f"127.0.0.1:{server.port}")
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s")
    )
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    with open(tmp_path / "prometheus.log", "wb") as log:
        prom = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(7):
            assert predict(server) == 200
        expected = requests_of(scrape(server.url), "success", "dummy", TFS, "Predict", "REST")
        query = (
            'ovms_requests_success{name="dummy",version="1",api="TensorFlowServing",method="Predict",interface="REST"}'
        )
        deadline, seen = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5)
                result = r.json()["data"]["result"]
                seen = float(result[0]["value"][1]) if result else None
            except (requests.RequestException, KeyError, ValueError):
                seen = None
            if seen == expected:
                break
            time.sleep(0.5)
        assert seen == expected, (seen, expected, (tmp_path / "prometheus.log").read_text()[-2000:])
        r = requests.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5)
        active = r.json()["data"]["activeTargets"]
        assert [t["health"] for t in active] == ["up"], active
        # every query of deploy/'s Grafana dashboard runs on this data
        for _ in range(5):
            assert predict(server) == 200
        time.sleep(3)
        for expr in dashboard_queries():
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}, timeout=5)
            assert r.status_code == 200 and r.json()["status"] == "success", (expr, r.text)
            if 'method=~"Predict|ModelInfer"' in expr:
                assert r.json()["data"]["result"], expr  # requests were served: the rate has data
    finally:
        prom.terminate()
        prom.wait(30)
