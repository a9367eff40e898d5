"""Every class of bad input, over HTTP: the reference's JSON error and code, and the server
keeps serving (each test ends with a valid request)."""

import json
from pathlib import Path

import pytest
import requests

from tests.server_util import Server, small_args, small_dummy_args

GOOD = json.dumps({"instances": [list(range(10))]})


def post(server: Server, path: str, data: bytes | str) -> requests.Response:
    return requests.post(server.url + path, data=data, timeout=30)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"", 412, "The file is not valid json - Error: The document is empty. Offset: 0"),
        (b"{instances", 412, "The file is not valid json - Error: Missing a name for object member. Offset: 1"),
        (b'{"instances": [[1,2,NaN]]}', 412, "The file is not valid json - Error: Invalid value. Offset: 20"),
        (b"[1]", 400, "Request body should be JSON object"),
        (b"{}", 400, "Invalid JSON structure. Could not detect row or column format"),
        (b'{"instances": 1}', 400, "Invalid JSON structure. Nonamed instance is not an array."),
        (b'{"instances": []}', 400, "Invalid JSON structure. Missing instances in row format"),
        (b'{"instances": [null]}', 400, "Could not detect neither named or nonamed format"),
        (
            b'{"instances": [[1,2,3,4,5,6,7,8,9,10],[1,2]]}',
            400,
            "Could not parse instance content. Not valid ndarray detected",
        ),
        (
            b'{"instances": [[1,2,3,4,5,6,7,8,9,null]]}',
            400,
            "Could not parse instance content. Not valid ndarray detected",
        ),
        (
            b'{"instances": [[1,2,3,4,5,6,7,8,9,true]]}',
            400,
            "Could not parse instance content. Not valid ndarray detected",
        ),
        (b'{"inputs": [["1",2,3,4,5,6,7,8,9,10]]}', 400, "Could not parse input content. Not valid ndarray detected"),
        (b'{"inputs": {}}', 400, "Invalid JSON structure, missing inputs"),
        (
            b'{"inputs": [1,2,3,4,5,6,7,8,9,10]}',
            400,
            "Invalid number of shape dimensions - Expected: (1,10); Actual: (10); input name: b",
        ),
        (b'{"inputs": [[1,2,3]]}', 400, "Invalid input shape - Expected: (1,10); Actual: (1,3); input name: b"),
        (
            b'{"inputs": [[1,2,3,4,5,6,7,8,9,10],[1,2,3,4,5,6,7,8,9,10]]}',
            400,
            "Invalid input batch size - Expected: 1; Actual: 2; input name: b",
        ),
        (b'{"inputs": {"c": [[1]]}}', 400, "Missing input with specific name - Required input: b"),
        (
            b'{"inputs": {"b": [[1,2,3,4,5,6,7,8,9,10]], "c": [[1]]}}',
            400,
            "Invalid number of inputs - Expected: 1; Actual: 2",
        ),
        (b'{"x": ' + b"[" * 101 + b"]" * 101 + b"}", 500, "JSON nesting depth exceeds the allowed limit"),
    ],
)
def test_body_errors(config_server: Server, body: bytes, code: int, message: str) -> None:
    r = post(config_server, "/v1/models/dummy:predict", body)
    assert (r.status_code, r.json()) == (code, {"error": message})
    assert r.headers["Content-Type"].startswith("application/json")
    assert post(config_server, "/v1/models/dummy:predict", GOOD).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "code", "message"),
    [
        ("POST", "/v1/models/nope:predict", 404, "Model with requested name is not found"),
        ("POST", "/v1/models/dummy/versions/5:predict", 404, "Model with requested version is not found"),
        ("POST", "/v1/models/dummy:classify", 404, "Requested REST resource not found"),
        ("POST", "/v1/models/dummy:regress", 404, "Requested REST resource not found"),
        ("PUT", "/v1/models/dummy:predict", 406, "Unsupported method"),
        ("DELETE", "/v1/models/dummy", 406, "Unsupported method"),
        ("PATCH", "/v1/config", 406, "Unsupported method"),
        ("GET", "/v1/models/dummy:predict", 406, "Unsupported method"),
        ("GET", "/v1/config/reload", 406, "Unsupported method"),
        ("GET", "/v1/wrong", 400, "Invalid request URL"),
        ("POST", "/v1/models/dummy/versions/x:predict", 400, "Invalid request URL"),
        (
            "GET",
            "/v1/models/dummy/versions/99999999999999999999999/metadata",
            404,
            "Model with requested version is not found",
        ),
    ],
)
def test_url_errors(config_server: Server, method: str, path: str, code: int, message: str) -> None:
    r = requests.request(method, config_server.url + path, data=GOOD, timeout=30)
    assert (r.status_code, r.json()) == (code, {"error": message})


def test_model_errors_come_before_body_parsing(config_server: Server) -> None:
    r = post(config_server, "/v1/models/nope:predict", b"not json")
    assert (r.status_code, r.json()["error"]) == (404, "Model with requested name is not found")


def test_path_traversal(config_server: Server) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", config_server.port, timeout=10)
    conn.request("GET", "/v1/models/../../etc/passwd")
    r = conn.getresponse()
    assert (r.status, json.loads(r.read())) == (400, {"error": "The provided base path is invalid or doesn't exists"})
    conn.close()


def test_body_size_and_depth_limits(repo: str, tmp_path: Path) -> None:
    args = small_dummy_args(repo, "--max_request_bytes", "1000", "--max_json_depth", "5")
    with Server(args, str(tmp_path / "log")) as server:
        server.wait_ready()
        r = post(server, "/v1/models/dummy:predict", b'{"instances": [' + b"1," * 2000 + b"1]}")
        assert r.status_code == 413
        assert r.json() == {"error": "Request body is larger than the configured limit"}
        r = post(server, "/v1/models/dummy:predict", b'{"instances": [[1]], "x": [[[[[]]]]]}')
        assert (r.status_code, r.json()) == (500, {"error": "JSON nesting depth exceeds the allowed limit"})
        assert post(server, "/v1/models/dummy:predict", b'{"instances": [[1,2,3,4,5,6,7,8,9,10]], "x": [[[]]]}').ok
        assert post(server, "/v1/models/dummy:predict", GOOD).status_code == 200


def test_tensors_larger_than_the_arena(repo: str, tmp_path: Path) -> None:
    args = small_args(repo, "dyn", "--shm_arena_mb", "1")
    with Server(args, str(tmp_path / "log")) as server:
        server.wait_ready()
        rows = json.dumps({"inputs": [[0.5] * 10] * 30000})  # 1.2 MB of float32: more than the arena
        r = post(server, "/v1/models/dyn:predict", rows)
        assert (r.status_code, r.json()) == (
            413,
            {"error": "Request tensors are larger than the shared-memory arena (--shm_arena_mb)"},
        )
        assert post(server, "/v1/models/dyn:predict", GOOD).status_code == 200
