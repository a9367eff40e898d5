"""Many clients at once: every answer correct, none mixed up."""

import json
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.server_util import Server


def test_many_concurrent_clients(config_server: Server) -> None:
    def call(i: int) -> tuple[int, int, object]:
        with requests.Session() as s:
            if i % 3 == 0:
                body = {"instances": [[float(i)] * 10]}
                r = s.post(config_server.url + "/v1/models/dummy:predict", data=json.dumps(body), timeout=60)
                return i, r.status_code, r.json()["predictions"][0][0] if r.ok else r.text
            if i % 3 == 1:
                rows = [[float(i + k)] * 10 for k in range(i % 7 + 1)]
                r = s.post(config_server.url + "/v1/models/dyn:predict", json={"inputs": rows}, timeout=60)
                return i, r.status_code, [row[0] for row in r.json()["outputs"]] if r.ok else r.text
            r = s.post(
                config_server.url + "/v1/models/two:predict",
                json={"inputs": {"a": [[i, i, i]], "b": [[i, -i]]}},
                timeout=60,
            )
            return i, r.status_code, r.json()["outputs"]["neg"] if r.ok else r.text

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(call, range(600)))
    for i, code, value in results:
        assert code == 200, value
        if i % 3 == 0:
            assert value == i + 1.0
        elif i % 3 == 1:
            assert value == [float(i + k) + 1.0 for k in range(i % 7 + 1)]
        else:
            assert value == [[-i, i]]
