from ovserve.frontend.http.reply import error_body
from ovserve.frontend.tfs.rest_layouts import config_error_body, config_status, model_metadata, model_status
from ovserve.shared.signature import Signature, TensorSpec
from ovserve.shared.states import ErrorCode, State

ONE = (
    '{\n "model_version_status": [\n  {\n   "version": "1",\n   "state": "AVAILABLE",\n   "status": {\n'
    '    "error_code": "OK",\n    "error_message": "OK"\n   }\n  }\n ]\n}\n'
)


def test_model_status_exact() -> None:
    assert model_status([(1, State.AVAILABLE, ErrorCode.OK)]) == ONE
    assert model_status([]) == '{\n "model_version_status": []\n}\n'


def test_config_status_exact() -> None:
    assert config_status([]) == "{}"
    text = config_status([("dummy", [(1, State.AVAILABLE, ErrorCode.OK)])])
    assert text == '{\n"dummy" : \n' + ONE.rstrip("\n") + "\n}"
    two = config_status([("b", []), ("a", [])])
    assert two.index('"a" : ') < two.index('"b" : ')


def test_metadata_exact() -> None:
    sig = Signature((TensorSpec("b", "f32", ((1, 1), (0, -1))),), (TensorSpec("a", "i64", ()),))
    text = model_metadata("m", 3, sig)
    assert text.startswith('{\n "modelSpec": {\n  "name": "m",\n  "signatureName": "",\n  "version": "3"\n },\n')
    assert '"@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap"' in text
    assert (
        '      "b": {\n       "dtype": "DT_FLOAT",\n       "tensorShape": {\n        "dim": [\n         {\n'
        '          "size": "1",\n          "name": ""\n         },\n         {\n          "size": "-1",\n'
        '          "name": ""\n         }\n        ],\n        "unknownRank": false\n       },\n       "name": "b"\n'
    ) in text
    assert '"dim": []' in text and '"dtype": "DT_INT64"' in text
    assert text.endswith('     "methodName": "",\n     "defaults": {}\n    }\n   }\n  }\n }\n}\n')


def test_error_bodies() -> None:
    assert error_body('Bad "x"') == b'{"error":"Bad \\"x\\""}'
    assert config_error_body("Config file not found or cannot open.") == (
        b'{\n\t"error": "Config file not found or cannot open."\n}'
    )
