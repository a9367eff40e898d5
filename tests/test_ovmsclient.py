"""OVMS's own Python client (ovmsclient, HTTP) works unchanged: it always sends /versions/0."""

import numpy as np
import ovmsclient
import pytest

from tests.server_util import Server


def test_status_metadata_predict(single_server: Server) -> None:
    client = ovmsclient.make_http_client(f"127.0.0.1:{single_server.port}")
    status = client.get_model_status(model_name="dummy")
    assert status == {1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}}
    meta = client.get_model_metadata(model_name="dummy")
    assert meta["model_version"] == 1
    assert meta["inputs"] == {"b": {"shape": [1, 10], "dtype": "DT_FLOAT"}}
    assert meta["outputs"] == {"a": {"shape": [1, 10], "dtype": "DT_FLOAT"}}
    x = np.arange(10, dtype=np.float32).reshape(1, 10)
    out = client.predict(inputs={"b": x}, model_name="dummy")
    assert np.array_equal(np.asarray(out, np.float32), x + 1)
    with pytest.raises(ovmsclient.ModelNotFoundError):
        client.predict(inputs={"b": x}, model_name="missing")
