"""Outputs -> KServe v2 bodies as OVMS writes them (src/rest_utils.cpp): infer responses with
rapidjson's PrettyWriter (4-space indent, single-line arrays) and its number texts, binary
outputs appended after the JSON; metadata and server metadata compact.

Numbers: orjson writes a whole float64 array at C speed with the shortest round-trip digits;
only its exponent tokens (and NaN/Infinity, which it writes as null) are rewritten by
``double_text``, rapidjson's layout of the same digits (positional from 1e-6 up to 1e21)."""

from __future__ import annotations

import numpy as np
import orjson
from ovserve.frontend.kserve.model import SERVER_NAME, SERVER_VERSION, raw_contents
from ovserve.shared.signature import Signature, TensorSpec, dim_metadata, kserve_datatype, kserve_of_numpy

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_NAN_TOKENS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def double_text(value: float) -> str:
    """rapidjson's ``Writer::Double`` text of a double (Grisu digits, ``Prettify`` layout)."""
    if value != value or value in (float("inf"), float("-inf")):
        return _NAN_TOKENS[repr(value)]
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    k = (int(exp) if exp else 0) - len(frac)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + k  # 10^(kk-1) <= value < 10^kk
    if k >= 0 and kk <= 21:
        text = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        text = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif length == 1:
        text = digits + "e" + str(kk - 1)
    else:
        text = digits[0] + "." + digits[1:] + "e" + str(kk - 1)
    return sign + text


def data_text(array: np.ndarray) -> bytes:
    """The flat ``data`` array of one output, single-line (``[1.0, 2.5]``)."""
    flat = array.reshape(-1)
    if flat.dtype.kind == "f":
        wide = flat.astype(np.float64, copy=False)
        text = orjson.dumps(wide, option=_NUMPY)
        if b"e" in text or b"null" in text:
            tokens = text[1:-1].split(b",")
            for i, token in enumerate(tokens):
                if b"e" in token or token == b"null":
                    tokens[i] = double_text(float(wide[i])).encode()
            text = b"[" + b",".join(tokens) + b"]"
    elif flat.dtype == object:  # BYTES: strings may hold commas, so each is written on its own
        return b"[" + b", ".join(orjson.dumps(_text(v)) for v in flat) + b"]"
    else:
        text = orjson.dumps(flat, option=_NUMPY)
    return text.replace(b",", b", ")


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _shape(shape: tuple[int, ...]) -> bytes:
    return b"[" + b", ".join(str(d).encode() for d in shape) + b"]"


def encode_infer(
    model: str, version: int, request_id: str, outputs: list[tuple[str, np.ndarray]], binary: set[str]
) -> tuple[bytes, list[bytes]]:
    """(JSON part, binary parts in output order) of an infer response."""
    head = [b'{\n    "model_name": ', orjson.dumps(model)]
    if request_id:
        head += [b',\n    "id": ', orjson.dumps(request_id)]
    head += [b',\n    "model_version": ', orjson.dumps(str(version)), b',\n    "outputs": [']
    tails: list[bytes] = []
    items = []
    for name, array in outputs:
        fields = [
            b'\n            "name": ' + orjson.dumps(name),
            b'\n            "shape": ' + _shape(array.shape),
            b'\n            "datatype": ' + orjson.dumps(kserve_of_numpy(array.dtype)),
        ]
        if name in binary:
            raw = raw_contents(array)
            tails.append(raw)
            size = b'{\n                "binary_data_size": %d\n            }' % len(raw)
            fields.append(b'\n            "parameters": ' + size)
        else:
            fields.append(b'\n            "data": ' + data_text(array))
        items.append(b"{" + b",".join(fields) + b"\n        }")
    return b"".join(head) + b", ".join(items) + b"]\n}", tails


def _tensor(spec: TensorSpec) -> dict[str, object]:
    shape = [dim_metadata(d) for d in spec.dims]
    return {"name": spec.name, "datatype": kserve_datatype(spec.element_type), "shape": shape}


def model_metadata(name: str, versions: list[int], signature: Signature) -> bytes:
    doc: dict[str, object] = {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": "OpenVINO",
        "inputs": [_tensor(t) for t in sorted(signature.inputs, key=lambda t: t.name)],
        "outputs": [_tensor(t) for t in sorted(signature.outputs, key=lambda t: t.name)],
    }
    if signature.model_info is not None:  # last, as OVMS adds it (REST only: the proto has no field)
        doc["rt_info"] = {"model_info": signature.model_info}
    return orjson.dumps(doc)


def server_metadata() -> bytes:
    return orjson.dumps({"name": SERVER_NAME, "version": SERVER_VERSION})
