"""``rt_info`` in KServe REST model metadata, as OVMS writes it and as Intel's Model API (Geti's
deployment path) reads it: ``tritonclient.http``'s metadata, then ``["rt_info"]`` and a path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from tests import modelgen
from tests.server_util import Server, write_json


@pytest.fixture(scope="module")
def server(repo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = str(tmp_path_factory.mktemp("rt") / "labelled")
    modelgen.labelled(base)
    config = os.path.join(str(tmp_path_factory.mktemp("rtconfig")), "config.json")
    models = [{"config": {"name": "labelled", "base_path": base}}]
    models.append({"config": {"name": "dummy", "base_path": os.path.join(repo, "dummy")}})
    write_json(config, {"model_config_list": models})
    s = Server(["--config_path", config], str(tmp_path_factory.mktemp("logs") / "rt_info.log"), grpc=True)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def rt_info_at(rt_info: dict[str, Any], path: list[str]) -> Any:
    """Model API's ``get_rt_info_from_dict``: the value at ``path``, KeyError when missing."""
    value: Any = rt_info
    for key in path:
        value = value[key]
    return value


def test_model_api_reads_model_info(server: Server) -> None:
    metadata = triton_http.InferenceServerClient(server.url.removeprefix("http://")).get_model_metadata("labelled")
    assert rt_info_at(metadata["rt_info"], ["model_info", "model_type"]) == "Classification"
    assert rt_info_at(metadata["rt_info"], ["model_info", "labels"]).split() == ["cat", "dog"]
    assert float(rt_info_at(metadata["rt_info"], ["model_info", "confidence_threshold"])) == 0.5
    assert rt_info_at(metadata["rt_info"], ["model_info", "tiling", "tile_size"]) == "3"


def test_exact_body(server: Server) -> None:
    """Compact JSON, ``rt_info`` last, only the ``model_info`` section, keys sorted, values strings."""
    r = requests.get(f"{server.url}/v2/models/labelled/versions/1", timeout=10)
    assert r.status_code == 200
    assert r.content == (
        b'{"name":"labelled","versions":["1"],"platform":"OpenVINO",'
        b'"inputs":[{"name":"b","datatype":"FP32","shape":[1,10]}],'
        b'"outputs":[{"name":"a","datatype":"FP32","shape":[1,10]}],'
        b'"rt_info":{"model_info":{"confidence_threshold":"0.5","labels":"cat dog","model_type":"Classification",'
        b'"multilabel":"True","tiling":{"tile_size":"3"}}}}'
    )


def test_absent_without_model_info_and_over_grpc(server: Server) -> None:
    assert "rt_info" not in requests.get(f"{server.url}/v2/models/dummy", timeout=10).json()
    grpc_meta = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}").get_model_metadata(
        "labelled", as_json=True
    )
    assert "rt_info" not in grpc_meta  # the KServe proto has no field for it
