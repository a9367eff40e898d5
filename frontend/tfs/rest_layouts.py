"""Byte-exact JSON layouts of the status, metadata and config endpoints.

OVMS prints these protobuf messages with ``add_whitespace`` (1-space indent, ``": "``, a trailing
newline); the config map is assembled by hand around them (src/rest_utils.cpp).
"""

from __future__ import annotations

from typing import Any

import orjson
from ovserve.frontend.table import VersionStatus
from ovserve.shared.signature import Signature, TensorSpec, dim_metadata, tf_dtype


def proto_json(value: Any, level: int = 0) -> str:
    """protobuf's JSON printer with add_whitespace: 1-space indent, ``[]``/``{}`` when empty."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = " " * (level + 1)
        items = [f"{pad}{_s(k)}: {proto_json(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * level + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        pad = " " * (level + 1)
        items = [pad + proto_json(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * level + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _s(value)
    return str(value)


def _s(text: str) -> str:
    return orjson.dumps(text).decode()


def model_status(versions: list[VersionStatus]) -> str:
    """GetModelStatusResponse text, trailing newline included."""
    doc = {
        "model_version_status": [
            {
                "version": str(v),
                "state": state.name,
                "status": {"error_code": code.name, "error_message": code.name},
            }
            for v, state, code in versions
        ]
    }
    return proto_json(doc) + "\n"


def config_status(models: list[tuple[str, list[VersionStatus]]]) -> str:
    """The status map of ``GET /v1/config`` and ``POST /v1/config/reload``, names ascending."""
    if not models:
        return "{}"
    parts = [f'"{name}" : \n{model_status(versions).rstrip(chr(10))}' for name, versions in sorted(models)]
    return "{\n" + ",\n".join(parts) + "\n}"


def _tensor(spec: TensorSpec) -> dict[str, Any]:
    return {
        "dtype": tf_dtype(spec.element_type),
        "tensorShape": {
            "dim": [{"size": str(dim_metadata(d)), "name": ""} for d in spec.dims],
            "unknownRank": False,
        },
        "name": spec.name,
    }


def model_metadata(name: str, version: int, signature: Signature) -> str:
    """GetModelMetadataResponse text, trailing newline included."""
    doc = {
        "modelSpec": {"name": name, "signatureName": "", "version": str(version)},
        "metadata": {
            "signature_def": {
                "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                "signatureDef": {
                    "serving_default": {
                        "inputs": {t.name: _tensor(t) for t in sorted(signature.inputs, key=lambda t: t.name)},
                        "outputs": {t.name: _tensor(t) for t in sorted(signature.outputs, key=lambda t: t.name)},
                        "methodName": "",
                        "defaults": {},
                    }
                },
            }
        },
    }
    return proto_json(doc) + "\n"


def config_error_body(message: str) -> bytes:
    """The config endpoints write their own error body: ``{\\n\\t"error": "<msg>"\\n}``."""
    return ('{\n\t"error": "' + message + '"\n}').encode()
