"""Hostile input: thousands of random and mutated bodies, URLs and headers against every
endpoint. The server stays up, every answer is a JSON error with a 4xx code (or one of the
reference's documented 5xx), and valid requests in between still get correct answers."""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server_util import Server

pytestmark = pytest.mark.slow

VALID = json.dumps({"instances": [[float(i) for i in range(10)]]}).encode()
EXPECTED = {"predictions": [[float(i) + 1 for i in range(10)]]}
DOCUMENTED_5XX = {
    "JSON nesting depth exceeds the allowed limit",
    "Internal allocation error",
    "Response parsing to JSON error",
    "Functionality not implemented",
    "Image parsing failed",
}
PATHS = [
    "/v1/models/dummy:predict",
    "/v1/models/dummy/versions/1:predict",
    "/v1/models/dyn:predict",
    "/v1/models/two:predict",
    "/v1/models/scalar:predict",
    "/v1/models/t_u8:predict",
    "/v1/models/dummy",
    "/v1/models/dummy/metadata",
    "/v1/config",
    "/v2/models/dummy/infer",
    "/v1/models/dummy:classify",
]
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=5)
)
json_value = st.recursive(
    json_leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=6),
        st.dictionaries(st.sampled_from(["b", "a", "instances", "inputs", "b64", "x"]), kids, max_size=4),
    ),
    max_leaves=30,
)
bodies = st.one_of(
    json_value.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda v, k: json.dumps({k: v}).encode(), json_value, st.sampled_from(["instances", "inputs"])),
    st.binary(max_size=300),
    st.builds(lambda cut, junk: VALID[:cut] + junk, st.integers(0, len(VALID)), st.binary(max_size=8)),
)
paths = st.one_of(
    st.sampled_from(PATHS), st.text(alphabet="/v1modelsdumy:%.?&#2x0-_ ", max_size=40).map(lambda p: "/" + p)
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@pytest.fixture(scope="module", autouse=True)
def no_process_dies(config_server: Server) -> Iterator[None]:
    """Whatever the bodies: the same front and worker processes serve before and after."""
    before = sorted(p.pid for p in psutil.Process(config_server.proc.pid).children())
    yield
    assert sorted(p.pid for p in psutil.Process(config_server.proc.pid).children()) == before


def send(server: Server, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read(), r.getheader("Content-Type") or ""
    finally:
        conn.close()


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    method=methods,
    path=paths,
    body=bodies,
    headers=st.dictionaries(st.sampled_from(["X-A", "Content-Type", "Accept", "X-Long"]), header_values, max_size=3),
)
def test_hostile_requests(config_server: Server, method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
    if path.startswith("/"):
        path = path.replace(" ", "%20").replace("#", "%23")
    status, payload, content_type = send(config_server, method, path, body, headers)
    if 200 <= status < 300:
        return  # something valid by chance (status, metadata, a well-formed predict)
    assert content_type.startswith("application/json"), (status, payload)
    if method == "HEAD":
        return  # no body in HEAD answers
    error = json.loads(payload)["error"]
    assert 400 <= status < 500 or (status in (500, 501, 503) and error in DOCUMENTED_5XX), (status, error)
    if random.random() < 0.05:  # valid requests in between still get correct answers
        ok, answer, _ = send(config_server, "POST", "/v1/models/dummy:predict", VALID, {})
        assert ok == 200 and json.loads(answer) == EXPECTED


# ---- KServe v2: JSON documents near the valid shape, binary tails, header lengths that lie ----
V2_VALID = json.dumps({"inputs": [{"name": "b", "shape": [1, 10], "datatype": "FP32", "data": list(range(10))}]})
V2_EXPECTED = [float(i) + 1 for i in range(10)]
V2_5XX = {
    "JSON nesting depth exceeds the allowed limit",
    "Inference-Header-Content-Length header is invalid and couldn't be parsed",
    "Inference-Header-Content-Length header exceeds actual payload length",
    "Request contains values both in binary data and in content value",
    "Functionality not implemented",
    "Image parsing failed",
}
V2_PATHS = [
    "/v2/models/dummy/infer",
    "/v2/models/dummy/versions/1/infer",
    "/v2/models/two/infer",
    "/v2/models/dyn/infer",
    "/v2/models/scalar/infer",
    "/v2/models/t_u8/infer",
    "/v2/models/t_boolean/infer",
    "/v2/models/t_f16/infer",
    "/v2/models/nope/infer",
    "/v2/models/dummy/ready",
    "/v2/models/dummy",
    "/v2/health/ready",
]
dims = st.one_of(st.integers(0, 12), st.integers(-3, 2**40))
v2_input = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["b", "a", "x", "s", 1]),
        "shape": st.one_of(st.lists(dims, max_size=4), json_leaf),
        "datatype": st.sampled_from(["FP32", "INT32", "UINT8", "BOOL", "FP16", "BYTES", "INT64", "FP33", 5]),
    },
    optional={
        "data": st.one_of(json_value, st.lists(st.floats(allow_nan=False, width=32), max_size=12)),
        "parameters": st.one_of(
            st.fixed_dictionaries({"binary_data_size": st.one_of(st.integers(-5, 2**62), json_leaf)}),
            json_value,
        ),
    },
)
v2_doc = st.fixed_dictionaries(
    {"inputs": st.one_of(st.lists(v2_input, max_size=3), json_value)},
    optional={
        "id": json_leaf,
        "parameters": st.one_of(st.dictionaries(st.sampled_from(["binary_data_output", "x"]), json_leaf), json_value),
        "outputs": st.one_of(
            st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "sum", "y", 3])}), max_size=3), json_value
        ),
    },
)
header_lengths = st.one_of(
    st.none(), st.just("json"), st.integers(-3, 400).map(str), header_values, st.just("99999999999")
)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    path=st.sampled_from(V2_PATHS),
    doc=st.one_of(v2_doc.map(lambda d: json.dumps(d).encode()), st.binary(max_size=200)),
    tail=st.binary(max_size=64),
    length=header_lengths,
)
def test_hostile_kserve_requests(config_server: Server, path: str, doc: bytes, tail: bytes, length: str | None) -> None:
    headers = {}
    if length is not None:
        headers["Inference-Header-Content-Length"] = str(len(doc)) if length == "json" else length
    body = doc + tail if length is not None else doc
    status, payload, content_type = send(
        config_server, "POST" if path.endswith("infer") else "GET", path, body, headers
    )
    assert content_type.startswith("application/json"), (status, payload)
    if not 200 <= status < 300:
        error = json.loads(payload)["error"]
        assert 400 <= status < 500 or (status == 500 and error in V2_5XX), (status, error, doc, headers)
    if random.random() < 0.05:
        ok, answer, _ = send(config_server, "POST", "/v2/models/dummy/infer", V2_VALID.encode(), {})
        assert ok == 200 and json.loads(answer)["outputs"][0]["data"] == V2_EXPECTED
