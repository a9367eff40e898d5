"""OVMS 2026's classic-model preprocessing, end to end: the command line of OVMS's ONNX demo
(``--layout NHWC:NCHW --mean --scale --shape --color_format --precision``, gRPC only) in front of
a normalised NCHW f32 model; clients send uint8 NHWC tensors or encoded images."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator

import cv2
import numpy as np
import ovmsclient
import pytest
import requests

from tests import modelgen
from tests.server_util import Server

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
SCALE = np.array([58.395, 57.12, 57.375], np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = str(tmp_path_factory.mktemp("pre") / "resnet")
    modelgen.nchw_identity(base, size=4)
    log = str(tmp_path_factory.mktemp("logs") / "preprocessing.log")
    args = ["--model_path", base, "--model_name", "resnet", "--layout", "NHWC:NCHW"]
    args += ["--mean", "[123.675,116.28,103.53]", "--scale", "[58.395,57.12,57.375]", "--shape", "(1,4,4,3)"]
    args += ["--color_format", "BGR:RGB", "--precision", "uint8:fp32"]
    s = Server(args, log, grpc=True)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def expected(client_nhwc: np.ndarray) -> np.ndarray:
    """What the model must get: the client's RGB turned into BGR (``--color_format BGR:RGB`` is
    model:client), as f32, less the mean, over the scale, transposed to NCHW."""
    bgr = client_nhwc[..., ::-1].astype(np.float32)
    return ((bgr - MEAN) / SCALE).transpose(0, 3, 1, 2)


def image() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (1, 4, 4, 3), dtype=np.uint8)


def test_metadata_shows_what_clients_send(server: Server) -> None:
    meta = requests.get(f"{server.url}/v2/models/resnet", timeout=10).json()
    assert meta["inputs"] == [{"name": "x", "datatype": "UINT8", "shape": [1, 4, 4, 3]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [1, 3, 4, 4]}]


def test_uint8_nhwc_over_tfs_grpc(server: Server) -> None:
    """OVMS's own Python client, as the ONNX demo's client sends a batch of images."""
    pixels = image()
    client = ovmsclient.make_grpc_client(f"127.0.0.1:{server.grpc_port}")
    out = client.predict(inputs={"x": pixels}, model_name="resnet")
    np.testing.assert_allclose(out, expected(pixels), rtol=1e-5, atol=1e-5)


def test_uint8_nhwc_over_kserve_rest(server: Server) -> None:
    pixels = image()
    body = {"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1, 4, 4, 3], "data": pixels.ravel().tolist()}]}
    r = requests.post(f"{server.url}/v2/models/resnet/infer", json=body, timeout=30)
    assert r.status_code == 200, r.text
    out = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(1, 3, 4, 4)
    np.testing.assert_allclose(out, expected(pixels), rtol=1e-5, atol=1e-5)


def test_encoded_image_over_tfs_rest(server: Server) -> None:
    """An encoded image is decoded as OVMS decodes it (OpenCV's channel order) into the uint8
    NHWC tensor the preprocessing then normalises."""
    pixels = image()
    ok, png = cv2.imencode(".png", pixels[0])
    assert ok
    body = {"instances": [{"x": {"b64": base64.b64encode(png.tobytes()).decode()}}]}
    r = requests.post(f"{server.url}/v1/models/resnet:predict", json=body, timeout=30)
    assert r.status_code == 200, r.text
    out = np.array(r.json()["predictions"], np.float32).reshape(1, 3, 4, 4)
    decoded = cv2.imdecode(png, cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    np.testing.assert_allclose(out, expected(decoded[None]), rtol=1e-5, atol=1e-5)


def test_preprocessing_of_a_model_with_two_inputs_fails_its_load(repo: str, tmp_path: os.PathLike[str]) -> None:
    """OpenVINO needs the input named when there are several: the load fails with OVMS's text."""
    log = os.path.join(str(tmp_path), "two.log")
    args = ["--model_path", os.path.join(repo, "two"), "--model_name", "two", "--layout", "NC", "--mean", "1"]
    text = "Failed to configure input preprocessing configuration; from OpenVINO with error:"
    with Server(args, log) as s:
        deadline = time.monotonic() + 60
        while s.proc.poll() is None and text not in s.read_log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert text in s.read_log()
