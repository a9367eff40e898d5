"""Worker-side batching: interleaved requests with distinct values to a dynamic-batch model are
merged into shared inferences, and every client still gets its own answer."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
