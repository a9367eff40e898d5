"""Encoded images as OVMS takes them (docs/binary_input.md): TFS REST ``b64`` (row and column), KServe
BYTES over the binary extension and gRPC, TFS gRPC ``string_val``; decoded unchanged (BGR,
grayscale, 16-bit), converted by value, resized only with an NHWC layout; and every bad image
answered with OVMS's code and text while the server goes on serving."""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import ovmsclient
import psutil
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import modelgen
from tests.server_util import Server

MODELS = {  # name: (NHWC shape, precision, layout)
    "img": ([1, 4, 6, 3], "f32", ""),
    "dynimg": ([-1, -1, -1, 3], "u8", ""),
    "nhwc": ([1, 4, 6, 3], "f32", "NHWC"),
    "batch2": ([2, 4, 6, 3], "f32", ""),
    "gray": ([1, 4, 6, 1], "u8", ""),
    "i8img": ([1, 4, 6, 3], "i8", ""),
    "i64img": ([1, 4, 6, 3], "i64", ""),
    "nchw": ([1, 3, 4, 6], "f32", "NCHW"),
    "flat": ([1, 72], "f32", ""),
}
JPEG = cv2.imencode(".jpg", np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8))[1].tobytes()
RESOLUTION = "Binary input images for this endpoint are required to have the same resolution"
PIXELS = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)  # H=4, W=6, BGR


def png(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return data.tobytes()


def rgb_png(width: int, height: int, rgb: tuple[int, int, int], declared: tuple[int, int] | None = None) -> bytes:
    """A PNG written by hand (not by OpenCV), so that the channel order OpenCV gives is a finding
    and not an echo; ``declared`` overrides the header's size (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    w, h = declared or (width, height)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("image_models")
    for name, (shape, element, layout) in MODELS.items():
        if name == "flat":
            modelgen.image(str(base / name), shape, element)
        else:
            modelgen.image(str(base / name), shape, element, layout=layout)
    models: list[dict[str, Any]] = [{"config": {"name": n, "base_path": str(base / n)}} for n in MODELS]
    modelgen.image(str(base / "served_nhwc"), [1, 3, 4, 6], "f32")  # an NCHW model served as NHWC
    modelgen.image(str(base / "mapped"), [1, 3, 4, 6], "f32")
    models.append({"config": {"name": "served_nhwc", "base_path": str(base / "served_nhwc"), "layout": "NHWC:NCHW"}})
    layouts = {"image": "NHWC:NCHW", "copy": "NHWC:NCHW"}  # outputs too
    models.append({"config": {"name": "mapped", "base_path": str(base / "mapped"), "layout": layouts}})
    config = {"model_config_list": models}
    (base / "config.json").write_text(json.dumps(config))
    log = str(tmp_path_factory.mktemp("logs") / "images.log")
    args = ["--config_path", str(base / "config.json"), "--max_request_bytes", str(4 << 20)]
    s = Server(args, log, grpc=True)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def tfs(s: Server, model: str, body: Any) -> requests.Response:
    return requests.post(f"{s.url}/v1/models/{model}:predict", json=body, timeout=60)


def error(r: requests.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]


def test_tfs_rest_row_and_column(server: Server) -> None:
    data = b64(png(PIXELS))
    for body in ({"instances": [{"b64": data}]}, {"inputs": {"image": [{"b64": data}]}}, {"inputs": [{"b64": data}]}):
        r = tfs(server, "img", body)
        assert r.status_code == 200, r.text
        key = "predictions" if "instances" in body else "outputs"
        assert np.array_equal(np.array(r.json()[key], np.float32), PIXELS[None].astype(np.float32))
    named = tfs(server, "img", {"instances": [{"image": {"b64": data.rstrip("=")}}]})  # padding optional
    assert named.status_code == 200, named.text


def test_decoded_as_opencv_decodes(server: Server) -> None:
    r = tfs(server, "dynimg", {"instances": [{"b64": b64(rgb_png(3, 2, (10, 20, 30)))}]})
    assert r.status_code == 200, r.text
    assert np.array_equal(np.array(r.json()["predictions"]), np.tile([30, 20, 10], (1, 2, 3, 1)))  # BGR, size kept
    gray = tfs(server, "gray", {"instances": [{"b64": b64(png(np.full((4, 6), 7, np.uint8)))}]})
    assert gray.status_code == 200 and np.array(gray.json()["predictions"]).shape == (1, 4, 6, 1)
    deep = np.full((4, 6, 3), 40000, np.uint16)  # 16 bits kept, then saturated into I8 as convertTo does
    r = tfs(server, "i8img", {"instances": [{"b64": b64(png(deep))}]})
    assert r.status_code == 200 and set(np.array(r.json()["predictions"]).ravel().tolist()) == {127}


def test_resized_only_with_an_nhwc_layout(server: Server) -> None:
    large = b64(png(np.full((8, 12, 3), 200, np.uint8)))
    assert error(tfs(server, "img", {"instances": [{"b64": large}]})) == (400, "Invalid input shape")
    r = tfs(server, "nhwc", {"instances": [{"b64": large}]})
    assert r.status_code == 200 and np.array(r.json()["predictions"]).shape == (1, 4, 6, 3)
    assert set(np.array(r.json()["predictions"]).ravel().tolist()) == {200.0}


def test_layout_served_nhwc_from_an_nchw_model(server: Server) -> None:
    """``layout NHWC:NCHW``: OpenVINO's preprocessing transposes what clients send; metadata
    shows the NHWC input; images are resized (the layout is NHWC)."""
    meta = requests.get(f"{server.url}/v2/models/served_nhwc", timeout=10).json()
    assert meta["inputs"][0]["shape"] == [1, 4, 6, 3] and meta["outputs"][0]["shape"] == [1, 3, 4, 6]
    r = tfs(server, "served_nhwc", {"instances": [{"b64": b64(png(PIXELS))}]})
    assert r.status_code == 200, r.text
    assert np.array_equal(np.array(r.json()["predictions"]), PIXELS[None].transpose(0, 3, 1, 2))
    large = tfs(server, "served_nhwc", {"instances": [{"b64": b64(png(np.ones((8, 12, 3), np.uint8)))}]})
    assert large.status_code == 200 and np.array(large.json()["predictions"]).shape == (1, 3, 4, 6)
    meta = requests.get(f"{server.url}/v2/models/mapped", timeout=10).json()
    assert meta["inputs"][0]["shape"] == [1, 4, 6, 3] and meta["outputs"][0]["shape"] == [1, 4, 6, 3]
    r = tfs(server, "mapped", {"instances": [{"b64": b64(png(PIXELS))}]})
    assert np.array_equal(np.array(r.json()["predictions"]), PIXELS[None])  # transposed there and back


def test_kserve_binary_extension_and_grpc_clients(server: Server) -> None:
    image = np.array([png(PIXELS)], dtype=object)
    http = triton_http.InferenceServerClient(f"127.0.0.1:{server.port}")
    tensor = triton_http.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(image, binary_data=True)
    assert np.array_equal(http.infer("img", [tensor]).as_numpy("copy"), PIXELS[None].astype(np.float32))
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    tensor = triton_grpc.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(image)
    assert np.array_equal(grpc.infer("img", [tensor]).as_numpy("copy"), PIXELS[None].astype(np.float32))
    ovms = ovmsclient.make_grpc_client(f"127.0.0.1:{server.grpc_port}")
    out = ovms.predict(inputs={"image": png(PIXELS)}, model_name="img")
    assert np.array_equal(out, PIXELS[None].astype(np.float32))
    two = ovms.predict(inputs={"image": [png(PIXELS), png(PIXELS)]}, model_name="batch2")
    assert two.shape == (2, 4, 6, 3)


@pytest.mark.parametrize(
    ("model", "items", "code", "message"),
    [
        ("img", [b"not an image"], 500, "Image parsing failed"),
        ("img", [png(PIXELS)[:60]], 500, "Image parsing failed"),  # truncated
        ("dynimg", [JPEG[: len(JPEG) // 2]], 500, "Image parsing failed"),  # a JPEG cut in half
        ("img", [rgb_png(2, 2, (1, 2, 3), declared=(200000, 200000))], 500, "Image parsing failed"),  # PNG bomb
        ("img", [b""], 400, "String val is empty"),
        ("batch2", [png(PIXELS), png(PIXELS[:2])], 400, RESOLUTION),
        ("img", [png(PIXELS)] * 2, 400, "Invalid input batch size - Expected: 1; Actual: 2; input name: image"),
        ("img", [png(PIXELS[:, :, 0])], 400, "Invalid number of channels in binary input"),
        ("i64img", [png(PIXELS)], 400, "Invalid input precision"),
        ("nchw", [png(PIXELS)], 400, "Received binary image input but resource not configured to accept NHWC layout"),
        ("flat", [png(PIXELS)], 500, "Functionality not implemented"),
    ],
)
def test_bad_images(server: Server, model: str, items: list[bytes], code: int, message: str) -> None:
    r = tfs(server, model, {"instances": [{"b64": b64(i)} for i in items]})
    assert error(r) == (code, message)
    assert tfs(server, "img", {"instances": [{"b64": b64(png(PIXELS))}]}).status_code == 200  # others go on


def test_bad_images_over_kserve_and_grpc(server: Server) -> None:
    raw = struct.pack("<I", 0)
    doc = {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 4}}]}
    head = json.dumps(doc).encode()
    headers = {"Inference-Header-Content-Length": str(len(head))}
    r = requests.post(f"{server.url}/v2/models/img/infer", data=head + raw, headers=headers, timeout=30)
    assert error(r) == (400, "Bytes contents is empty")
    doc["inputs"][0]["shape"] = [1, 1]
    head = json.dumps(doc).encode()
    headers = {"Inference-Header-Content-Length": str(len(head))}
    r = requests.post(f"{server.url}/v2/models/img/infer", data=head + raw, headers=headers, timeout=30)
    expected = "Invalid number of shape dimensions - Expected number of input shape dimensions: 1; Actual: 2"
    assert error(r) == (400, f"{expected}; input name: image")
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    tensor = triton_grpc.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([b"garbage"], dtype=object))
    with pytest.raises(triton_grpc.InferenceServerException) as info:
        grpc.infer("img", [tensor])
    assert "Unknown error" in str(info.value)  # IMAGE_PARSING_FAILED is unmapped in OVMS's gRPC table
    big = b64(np.random.default_rng(0).integers(0, 255, 5 << 20, dtype=np.uint8).tobytes())
    assert tfs(server, "img", {"instances": [{"b64": big}]}).status_code == 413  # over --max_request_bytes


def test_fronts_stay_small_after_a_bomb(server: Server) -> None:
    bomb = b64(rgb_png(2, 2, (1, 2, 3), declared=(30000, 30000)))  # 0.9 Gpx declared: refused before allocation
    for _ in range(4):
        assert error(tfs(server, "dynimg", {"instances": [{"b64": bomb}]})) == (500, "Image parsing failed")
    fronts = [p for p in psutil.Process(server.proc.pid).children() if "ovserve.frontend" in p.cmdline()]
    assert fronts and all(p.memory_info().rss < 600 << 20 for p in fronts)
    assert tfs(server, "img", {"instances": [{"b64": b64(png(PIXELS))}]}).status_code == 200


IMAGE_400 = {
    "Invalid input shape",
    "Invalid number of channels in binary input",
    RESOLUTION,
    "String val is empty",
    "Could not parse instance content. Not valid ndarray detected",
}
SEEDS = [png(PIXELS), JPEG, rgb_png(5, 3, (9, 8, 7))]


def mutate(seed: bytes, cuts: list[tuple[int, int]], keep: int) -> bytes:
    data = bytearray(seed)
    for at, value in cuts:
        data[at % len(data)] = value
    return bytes(data[: max(1, keep % (len(data) + 1))])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    image=st.one_of(
        st.binary(max_size=200),
        st.builds(
            mutate,
            st.sampled_from(SEEDS),
            st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
            st.integers(0, 10_000),
        ),
    ),
    model=st.sampled_from(["img", "dynimg", "nhwc", "gray"]),
)
def test_fuzzed_images(server: Server, image: bytes, model: str) -> None:
    """Random and mutated PNG/JPEG bytes (bit flips, truncation, broken headers)."""
    r = tfs(server, model, {"instances": [{"b64": b64(image)}]})
    if r.status_code != 200:
        code, text = error(r)
        assert (code == 400 and text in IMAGE_400) or (code, text) == (500, "Image parsing failed"), (code, text)
    if random.random() < 0.05:
        assert tfs(server, "img", {"instances": [{"b64": b64(png(PIXELS))}]}).status_code == 200
