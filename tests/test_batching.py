"""Worker-side batching: interleaved requests with distinct values to a dynamic-batch model are
merged into shared inferences, and every client still gets its own answer."""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from ovserve.workers.batcher import Job, group, split_outputs

from tests.server_util import Server, small_args


def test_interleaved_requests_get_their_own_answers(repo: str, tmp_path: Path) -> None:
    args = small_args(repo, "dyn", "--max_batch", "32", "--stats_interval_seconds", "0.5", fronts=2)
    with Server(args, str(tmp_path / "log")) as s:
        s.wait_ready()

        def call(i: int) -> tuple[int, list[list[float]], list[list[float]]]:
            rows = [[float(i * 10 + k)] * 10 for k in range(1 + i % 4)]
            body = {"instances": rows} if i % 2 else {"inputs": rows}
            r = requests.post(s.url + "/v1/models/dyn:predict", json=body, timeout=30)
            doc = r.json()
            return r.status_code, rows, doc.get("predictions", doc.get("outputs"))

        with ThreadPoolExecutor(48) as pool:
            results = list(pool.map(call, range(1500)))
        for code, rows, got in results:
            assert code == 200
            assert got == [[v + 1.0 for v in row] for row in rows]
        time.sleep(0.8)
        batches = [float(m) for m in re.findall(r"mean batch ([\d.]+)", s.read_log())]
        assert batches and max(batches) > 1.0  # requests were really merged
        assert re.search(r"mean queue [\d.]+ ms, mean compute [\d.]+ ms per inference", s.read_log())


class _Loaded:
    batchable = True
    max_batch = 0  # the worker's limit


def _job(rid: int, batch: int, width: int = 3) -> Job:
    import numpy as np

    return Job(b"f", rid, ("m", 1, 1), _Loaded(), None, [("x", np.zeros((batch, width), np.float32))], 0, 0, 0.0)


def test_grouping_respects_shapes_and_limit() -> None:
    jobs = [_job(1, 2), _job(2, 3), _job(3, 1, width=4), _job(4, 30), _job(5, 1)]
    groups = group(jobs, 32)
    assert [[j.rid for j in g] for g in groups] == [[1, 2], [3], [4, 5]]  # 4 does not fit: it opens a group
    assert [[j.rid for j in g] for g in group(jobs, 1)] == [[1], [2], [3], [4], [5]]


def test_split_refuses_outputs_without_batch_dim() -> None:
    import numpy as np

    jobs = [_job(1, 2), _job(2, 1)]
    parts = split_outputs(jobs, [np.arange(9).reshape(3, 3)])
    assert parts is not None and [p[0].shape[0] for p in parts] == [2, 1]
    assert split_outputs(jobs, [np.zeros((1, 3))]) is None


@pytest.mark.slow
def test_per_model_batching_in_the_config(tmp_path: Path) -> None:
    """``OVSERVE_MAX_BATCH`` in a model's ``plugin_config`` (OVMS's schema holds) batches that
    model only, with the worker's default off; 64 concurrent clients with distinct inputs each
    get the answer of their own input (checked against OpenVINO in this process)."""
    import json

    import numpy as np
    import openvino as ov

    from tests import modelgen

    base = str(tmp_path)
    modelgen.mlp(os.path.join(base, "mlp"), width=256, layers=2)
    modelgen.dummy(os.path.join(base, "dyn"), batch=None)
    exact = {"INFERENCE_PRECISION_HINT": "f32"}
    config = {
        "model_config_list": [
            {"config": {"name": "mlp", "base_path": "mlp", "plugin_config": {**exact, "OVSERVE_MAX_BATCH": 32}}},
            {"config": {"name": "dyn", "base_path": "dyn"}},
        ]
    }
    with open(os.path.join(base, "config.json"), "w") as f:
        json.dump(config, f)
    args = ["--config_path", os.path.join(base, "config.json"), "--worker_processes", "1"]
    args += ["--front_processes", "2", "--stats_interval_seconds", "0.5"]
    compiled = ov.Core().compile_model(os.path.join(base, "mlp", "1", "model.xml"), "CPU", exact)
    with Server(args, str(tmp_path / "log")) as s:
        s.wait_ready()

        def call(i: int) -> tuple[int, np.ndarray, np.ndarray, int]:
            x = np.random.default_rng(i).standard_normal((1, 256)).astype(np.float32)
            r = requests.post(s.url + "/v1/models/mlp:predict", json={"instances": x.tolist()}, timeout=30)
            d = requests.post(s.url + "/v1/models/dyn:predict", json={"instances": [[float(i)] * 10]}, timeout=30)
            ok = d.status_code == 200 and d.json() == {"predictions": [[float(i) + 1.0] * 10]}
            return r.status_code, x, np.array(r.json().get("predictions"), np.float32), ok

        with ThreadPoolExecutor(64) as pool:
            results = list(pool.map(call, range(1200)))
        time.sleep(0.8)
        log = s.read_log()
    for code, x, got, dyn_ok in results:
        assert code == 200 and dyn_ok
        assert np.allclose(got, compiled(x)[0], rtol=1e-4, atol=1e-4)
    mlp = [float(m) for m in re.findall(r"mlp v1: \d+ requests in \d+ inferences \(mean batch ([\d.]+)\)", log)]
    dyn = [float(m) for m in re.findall(r"dyn v1: \d+ requests in \d+ inferences \(mean batch ([\d.]+)\)", log)]
    print(f"\nper-model batching: mlp mean batch per interval {mlp}, dyn {dyn}")
    assert mlp and sorted(mlp)[len(mlp) // 2] > 1.1  # merged (the Python clients cannot queue many more)
    assert dyn and max(dyn) == 1.0  # the worker's default: off


def test_batching_options_are_checked() -> None:
    from ovserve.shared.model_config import ModelConfig
    from ovserve.shared.model_options import ConfigError, parse_plugin_config

    config = ModelConfig("m", "/m", plugin_config=parse_plugin_config({"OVSERVE_MAX_BATCH": 8, "NUM_STREAMS": 2}))
    options = config.load_options()
    assert options.plugin_config == {"NUM_STREAMS": "2"} and (options.max_batch, options.batch_delay_us) == (8, None)
    for bad in ({"OVSERVE_MAX_BATH": 8}, {"OVSERVE_MAX_BATCH": 0}, {"OVSERVE_BATCH_DELAY_US": "soon"}):
        with pytest.raises(ConfigError):
            parse_plugin_config(bad)
