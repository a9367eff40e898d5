"""``/v3/models`` (OpenAI's list and retrieve formats) as OVMS 2026.2 answers them: every
available servable, and a 500 ``Model not found`` for a name with nothing available."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import TYPED
from tests.server_util import Server

AVAILABLE = sorted(["dummy", "dyn", "two", "scalar", "versioned", *[f"t_{t}" for t in TYPED]])


@pytest.mark.parametrize("path", ["/v3/models", "/v3/v1/models"])
def test_list(config_server: Server, path: str) -> None:
    before = int(time.time())
    r = requests.get(config_server.url + path, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert list(doc) == ["data", "object"] and doc["object"] == "list"
    assert [m["id"] for m in doc["data"]] == AVAILABLE  # "empty" has no version: not available
    for m in doc["data"]:
        assert list(m) == ["id", "object", "created", "owned_by"]
        assert m["object"] == "model" and m["owned_by"] == "OVMS" and before <= m["created"] <= time.time() + 1
    assert r.content.startswith(b'{"data":[{"id":"dummy","object":"model","created":')  # compact


@pytest.mark.parametrize("path", ["/v3/models/versioned", "/v3/v1/models/versioned"])
def test_retrieve(config_server: Server, path: str) -> None:
    r = requests.get(config_server.url + path, timeout=10)
    assert r.status_code == 200
    created = r.json()["created"]
    assert r.content == b'{"id":"versioned","object":"model","created":%d,"owned_by":"OVMS"}' % created


@pytest.mark.parametrize("name", ["nope", "empty"])
def test_retrieve_unavailable(config_server: Server, name: str) -> None:
    r = requests.get(f"{config_server.url}/v3/models/{name}", timeout=10)
    assert (r.status_code, r.content) == (500, b'{"error":"Model not found"}')
