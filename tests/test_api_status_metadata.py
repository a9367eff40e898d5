"""Status, metadata and config endpoints of the real server, byte-exact where OVMS is."""

import requests
from ovserve.frontend.tfs.rest_layouts import config_status
from ovserve.shared.states import ErrorCode, State

from tests.server_util import Server

AVAILABLE_1 = (
    '{\n "model_version_status": [\n  {\n   "version": "1",\n   "state": "AVAILABLE",\n   "status": {\n'
    '    "error_code": "OK",\n    "error_message": "OK"\n   }\n  }\n ]\n}\n'
)


def test_status_exact(config_server: Server) -> None:
    r = requests.get(config_server.url + "/v1/models/dummy")
    assert r.status_code == 200
    assert r.text == AVAILABLE_1
    assert r.headers["Content-Type"].startswith("application/json")
    assert requests.get(config_server.url + "/v1/models/dummy/versions/1").text == AVAILABLE_1
    assert requests.get(config_server.url + "/v1/models/dummy/versions/0").text == AVAILABLE_1
    assert requests.get(config_server.url + "/v1/models/dummy/labels/any").text == AVAILABLE_1


def test_status_all_versions_with_failed_one(config_server: Server) -> None:
    doc = requests.get(config_server.url + "/v1/models/versioned").json()
    rows = [(s["version"], s["state"], s["status"]["error_code"]) for s in doc["model_version_status"]]
    assert rows == [("1", "AVAILABLE", "OK"), ("2", "AVAILABLE", "OK"), ("3", "LOADING", "UNKNOWN")]


def test_status_errors(config_server: Server) -> None:
    r = requests.get(config_server.url + "/v1/models/nope")
    assert (r.status_code, r.text) == (404, '{"error":"Model with requested name is not found"}')
    r = requests.get(config_server.url + "/v1/models/dummy/versions/9")
    assert (r.status_code, r.text) == (404, '{"error":"Model with requested version is not found"}')
    r = requests.get(config_server.url + "/v1/models")
    assert r.status_code == 404
    r = requests.get(config_server.url + "/v1/models/empty")
    assert (r.status_code, r.text) == (200, '{\n "model_version_status": []\n}\n')


def test_metadata(config_server: Server) -> None:
    r = requests.get(config_server.url + "/v1/models/dyn/metadata")
    assert r.status_code == 200
    doc = r.json()
    assert doc["modelSpec"] == {"name": "dyn", "signatureName": "", "version": "1"}
    sig = doc["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    assert sig["inputs"]["b"]["dtype"] == "DT_FLOAT"
    assert sig["inputs"]["b"]["tensorShape"]["dim"] == [{"size": "-1", "name": ""}, {"size": "10", "name": ""}]
    assert sig["outputs"]["a"]["name"] == "a"
    assert r.text.startswith('{\n "modelSpec": {\n  "name": "dyn",') and r.text.endswith("}\n")
    assert requests.get(config_server.url + "/v1/models/versioned/metadata").json()["modelSpec"]["version"] == "2"
    scalar = requests.get(config_server.url + "/v1/models/scalar/versions/1/metadata").json()
    assert scalar["metadata"]["signature_def"]["signatureDef"]["serving_default"]["inputs"]["s"]["tensorShape"] == {
        "dim": [],
        "unknownRank": False,
    }


def test_metadata_errors(config_server: Server) -> None:
    r = requests.get(config_server.url + "/v1/models/versioned/versions/3/metadata")
    assert (r.status_code, r.json()) == (404, {"error": "Model with requested version is not loaded yet"})
    r = requests.get(config_server.url + "/v1/models/versioned/versions/4/metadata")
    assert (r.status_code, r.json()) == (404, {"error": "Model with requested version is not found"})
    r = requests.get(config_server.url + "/v1/models/empty/metadata")
    assert r.status_code == 404


def test_config_status_lists_all_models_sorted(config_server: Server) -> None:
    r = requests.get(config_server.url + "/v1/config")
    assert r.status_code == 200
    assert r.text.startswith('{\n"dummy" : \n{\n "model_version_status": [')
    names = [line.split('"')[1] for line in r.text.splitlines() if line.endswith('" : ')]
    assert names == sorted(names) and "versioned" in names and "empty" in names


def test_single_model_config_and_reload(single_server: Server) -> None:
    expected = config_status([("dummy", [(1, State.AVAILABLE, ErrorCode.OK)])])
    r = requests.get(single_server.url + "/v1/config")
    assert (r.status_code, r.text) == (200, expected)
    r = requests.post(single_server.url + "/v1/config/reload")
    assert (r.status_code, r.text) == (200, expected)


def test_options_and_cors(config_server: Server) -> None:
    r = requests.options(config_server.url + "/v1/models/dummy:predict")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == "*"
