"""Predict on the real server: formats, dtypes, versions, exact output values."""

import json
import os

import numpy as np
import pytest
import requests
from ovserve.frontend.json_numbers import texts
from ovserve.shared.signature import numpy_dtype

from tests.conftest import TYPED
from tests.server_util import Server

ROW = list(range(1, 11))


def predict(server: Server, model: str, body: object, version: str = "") -> requests.Response:
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(server.url + path, data=data, timeout=30)


def test_row_and_column_exact_bytes(config_server: Server) -> None:
    r = predict(config_server, "dummy", {"instances": [ROW]})
    assert r.status_code == 200
    assert r.text == '{\n    "predictions": [[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]\n    ]\n}'
    r = predict(config_server, "dummy", {"inputs": {"b": [[0.1] * 10]}})
    assert r.json() == {"outputs": [[1.1] * 10]}
    r = predict(config_server, "dummy", {"inputs": {"b": [[1 / 3] * 10]}})
    assert '"outputs": [\n        [\n            1.33333337,' in r.text  # %g does not read back: %.9g
    r = predict(config_server, "dummy", {"instances": [{"b": ROW}]})
    assert r.json() == {"predictions": [[v + 1.0 for v in ROW]]}
    r = predict(config_server, "dummy", {"signature_name": "serving_default", "inputs": [ROW]})
    assert r.json() == {"outputs": [[v + 1.0 for v in ROW]]}


def test_versions_and_labels(config_server: Server) -> None:
    assert predict(config_server, "versioned", {"inputs": [[0] * 10]}).json() == {"outputs": [[2.0] * 10]}
    assert predict(config_server, "versioned", {"inputs": [[0] * 10]}, "1").json() == {"outputs": [[1.0] * 10]}
    assert predict(config_server, "versioned", {"inputs": [[0] * 10]}, "0").json() == {"outputs": [[2.0] * 10]}
    r = requests.post(config_server.url + "/v1/models/versioned/labels/stable:predict", json={"inputs": [[0] * 10]})
    assert r.json() == {"outputs": [[2.0] * 10]}
    r = predict(config_server, "versioned", {"inputs": [[0] * 10]}, "3")
    assert (r.status_code, r.json()) == (404, {"error": "Model with requested version is not loaded yet"})


def test_dynamic_batch_and_multi_io(config_server: Server) -> None:
    rows = [[i] * 10 for i in range(5)]
    r = predict(config_server, "dyn", {"instances": rows})
    assert r.json() == {"predictions": [[i + 1.0] * 10 for i in range(5)]}
    r = predict(config_server, "two", {"instances": [{"a": [1, 2, 3], "b": [4, 5]}, {"a": [0.5, 0, -1], "b": [-7, 8]}]})
    assert r.json() == {
        "predictions": [{"sum": [2.0, 4.0, 6.0], "neg": [-4, -5]}, {"sum": [1.0, 0.0, -2.0], "neg": [7, -8]}]
    }
    r = predict(config_server, "two", {"inputs": {"a": [[1, 2, 3]], "b": [[1, 2], [3, 4], [5, 6]]}})
    assert r.json() == {"outputs": {"sum": [[2.0, 4.0, 6.0]], "neg": [[-1, -2], [-3, -4], [-5, -6]]}}
    r = predict(config_server, "scalar", {"inputs": 2.5})
    assert r.text == '{\n    "outputs": 7.5\n}'
    r = predict(config_server, "scalar", {"instances": [2.5]})
    assert r.status_code == 400


def reference(repo: str, model: str, array: np.ndarray) -> np.ndarray:
    """The model's own output, computed in-process by OpenVINO (what the server must return)."""
    import openvino as ov

    compiled = ov.Core().compile_model(os.path.join(repo, model, "1", "model.xml"), "CPU")
    return compiled(array)[0]


@pytest.mark.parametrize("element", [t for t in TYPED if t not in ("boolean",)])
def test_dtypes(config_server: Server, repo: str, element: str) -> None:
    r = predict(config_server, f"t_{element}", {"inputs": [[1, 2, 3, 100]]})
    if element in ("u16", "f16"):
        message = "Could not parse input content. Unsupported data precision detected"
        assert (r.status_code, r.json()) == (400, {"error": message})
        return
    if element in ("u32", "u64"):
        assert (r.status_code, r.json()) == (500, {"error": "Unsupported serialization precision"})
        return
    expected = reference(repo, f"t_{element}", np.array([[1, 2, 3, 100]]).astype(numpy_dtype(element)))
    assert r.status_code == 200, r.text
    assert r.json() == {"outputs": expected.tolist()}


def test_int_wraps_like_ovms(config_server: Server, repo: str) -> None:
    # 128 wraps to -128 and 1.9 truncates to 1 on input, as OVMS's C casts do
    r = predict(config_server, "t_i8", {"inputs": [[127, 128, -1, 1.9]]})
    expected = reference(repo, "t_i8", np.array([[127, -128, -1, 1]], np.int8))
    assert r.json() == {"outputs": expected.tolist()}


def test_float64_text(config_server: Server, repo: str) -> None:
    r = predict(config_server, "t_f64", {"inputs": [[0.1, 1e300, -2.5, 3]]})
    expected = reference(repo, "t_f64", np.array([[0.1, 1e300, -2.5, 3]], np.float64))
    tokens = [t.rstrip(",") for t in r.text.split()[4:8]]
    assert tokens == texts(expected.ravel().tolist(), False)
    assert np.array_equal(np.array(tokens, dtype=np.float64), expected.ravel())  # exact read-back


def test_bool_inputs_rejected(config_server: Server) -> None:
    r = predict(config_server, "t_boolean", {"inputs": [[True, False, True, True]]})
    assert (r.status_code, r.json()) == (400, {"error": "Could not parse input content. Not valid ndarray detected"})


def test_large_image_like_body(config_server: Server) -> None:
    values = np.random.default_rng(0).standard_normal((300, 10)).astype(np.float32)
    r = predict(config_server, "dyn", json.dumps({"instances": values.tolist()}))
    assert r.status_code == 200
    got = np.array(r.json()["predictions"], np.float32)
    assert np.array_equal(got, values + np.float32(1))
