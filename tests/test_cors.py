"""CORS as OVMS sends it: the four flags verbatim on every REST answer, errors and preflights too."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from tests.server_util import Server, small_dummy_args


@pytest.fixture(scope="module")
def server(repo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    args = small_dummy_args(repo)
    args += ["--allowed_origins", "https://a.example,https://b.example", "--allowed_methods", "GET,POST"]
    args += ["--allowed_headers", "", "--allow_credentials"]
    s = Server(args, os.path.join(str(tmp_path_factory.mktemp("logs")), "cors.log"))
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def cors(r: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


EXPECTED = {
    "access-control-allow-credentials": "true",
    "access-control-allow-origin": "https://a.example,https://b.example",
    "access-control-allow-methods": "GET,POST",
}  # --allowed_headers "": no header


def test_every_answer_carries_the_flags(server: Server) -> None:
    assert cors(requests.get(f"{server.url}/v1/models/dummy", timeout=10)) == EXPECTED
    assert cors(requests.get(f"{server.url}/v1/models/nope", timeout=10)) == EXPECTED  # an error
    preflight = requests.options(
        f"{server.url}/v2/models/dummy/infer",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 200 and cors(preflight) == EXPECTED


def test_defaults_are_ovms_stars(config_server: Server) -> None:
    assert cors(requests.get(f"{config_server.url}/v2/health/ready", timeout=10)) == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "*",
        "access-control-allow-headers": "*",
    }
