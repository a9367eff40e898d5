"""Access control by API key on both ports: ``Authorization: Bearer <key>`` for the guarded API
groups (OVMS's unauthorized text, 401 / UNAUTHENTICATED), health endpoints and preflights open,
the key read as OVMS reads ``--api_key_file`` (or ``API_KEY``) and never logged."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from ovserve.cli import settings_from_args
from ovserve.cli_flags import UsageError
from tests.server_util import Server

KEY = "s3cr3t-key"
UNAUTHORIZED = {"error": "Unauthorized request due to invalid or missing api-key"}
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(repo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("key")
    (folder / "key.txt").write_text(f"{KEY}  \nsecond line ignored\n")  # OVMS: the first line, end trimmed
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--api_key_file", str(folder / "key.txt"), "--metrics_enable"]
    s = Server(args, str(tmp_path_factory.mktemp("logs") / "key.log"), grpc=True)
    try:
        s.wait_ready()  # /v2/health/ready needs no key
        yield s
    finally:
        s.stop()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/models/dummy:predict"),
        ("POST", "/v2/models/dummy/infer"),
        ("GET", "/v1/models/dummy"),
        ("GET", "/v2/models/dummy"),
        ("GET", "/v2"),
        ("GET", "/v3/models"),
        ("GET", "/v1/config"),
        ("POST", "/v1/config/reload"),
        ("GET", "/metrics"),
    ],
)
def test_rest_groups_are_guarded(server: Server, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"X-Api-Key": KEY}):
        r = requests.request(method, server.url + path, headers=headers, json={}, timeout=10)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED), (path, headers)
    ok = requests.request(method, server.url + path, headers={"authorization": f"Bearer {KEY}"}, timeout=30)
    assert ok.status_code != 401


def test_health_and_preflight_stay_open(server: Server) -> None:
    assert requests.get(server.url + "/v2/health/live", timeout=10).status_code == 200
    assert requests.get(server.url + "/v2/health/ready", timeout=10).status_code == 200
    assert requests.options(server.url + "/v2/models/dummy/infer", timeout=10).status_code == 200


def test_clients_send_the_key(server: Server) -> None:
    x = np.ones((1, 10), np.float32)
    http = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    data = triton_http.InferInput("b", [1, 10], "FP32")
    data.set_data_from_numpy(x)
    # tritonclient adds its own headers to the dict it is given: a copy each time
    assert http.infer("dummy", [data], headers=dict(BEARER)).as_numpy("a").tolist() == (x + 1).tolist()
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    assert client.is_server_ready()  # open
    metadata = {"authorization": f"Bearer {KEY}"}  # gRPC metadata keys are lower case
    assert client.get_model_metadata("dummy", headers=metadata).name == "dummy"
    with pytest.raises(Exception, match="Unauthorized request due to invalid or missing api-key"):
        client.get_model_metadata("dummy")


def test_grpc_codes(server: Server) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        request = pb.ModelInferRequest(model_name="dummy")
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request, metadata=[("authorization", "Bearer nope")])
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert info.value.details() == UNAUTHORIZED["error"]
        with pytest.raises(grpc.RpcError) as garbage:  # refused before the message is even parsed
            channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")(b"\xff\xff")
        assert garbage.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert stub.ServerLive(pb.ServerLiveRequest()).live


def test_the_key_is_never_logged(server: Server) -> None:
    requests.get(server.url + "/v1/models/dummy", headers={"Authorization": "Bearer guess"}, timeout=10)
    assert KEY not in server.read_log() and "guess" not in server.read_log()


@pytest.mark.slow
def test_groups_and_environment(repo: str, tmp_path: Path) -> None:
    """``API_KEY`` without a file; ``--api_key_apis inference`` leaves metadata open."""
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--api_key_apis", "inference"]
    with Server(args, str(tmp_path / "env.log"), extra_env={"API_KEY": KEY}) as s:
        s.wait_ready()
        assert requests.get(s.url + "/v1/models/dummy", timeout=10).status_code == 200
        body = {"instances": [[1.0] * 10]}
        assert requests.post(s.url + "/v1/models/dummy:predict", json=body, timeout=10).status_code == 401
        assert requests.post(s.url + "/v1/models/dummy:predict", json=body, headers=BEARER, timeout=10).json() == {
            "predictions": [[2.0] * 10]
        }


def test_flag_errors(tmp_path: Path) -> None:
    base = ["--model_name", "m", "--model_path", "/m", "--rest_port", "1"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    for flags, text in (
        (["--api_key_file", "/nonexistent"], "Error reading API key file: Unable to open file /nonexistent"),
        (["--api_key_file", str(empty)], f"api_key_file: {empty} has no key on its first line"),
        (
            ["--api_key_apis", "inference,bogus"],
            "api_key_apis: bogus is not one of inference, metadata, config, metrics",
        ),
    ):
        with pytest.raises(UsageError) as info:
            settings_from_args([*base, *flags])
        assert str(info.value) == text
