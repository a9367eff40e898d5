"""KServe v2 REST codecs without a server: OVMS's parsing rules and texts, the binary extension's
bounds, rapidjson's number texts and PrettyWriter layout."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import numpy as np
import pytest
from ovserve.frontend.kserve.model import length_prefixed
from ovserve.frontend.kserve.rest_request import header_length, parse_infer
from ovserve.frontend.kserve.rest_response import data_text, double_text, encode_infer
from ovserve.frontend.validation import KSERVE, Declared, validate
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import Signature, TensorSpec

SIG = Signature((TensorSpec("b", "f32", ((1, 1), (10, 10))),), (TensorSpec("a", "f32", ((1, 1), (10, 10))),))


def parse(doc: object, binary: bytes = b"", length: int | None = None) -> Any:
    text = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    if binary and length is None:
        length = len(text)
    return parse_infer(text + binary, length, 100)


def err(doc: object, binary: bytes = b"", length: int | None = None) -> str:
    with pytest.raises(OvmsError) as info:
        parse(doc, binary, length)
    return f"{info.value.http} {info.value.message}"


def tensor(**fields: object) -> dict[str, Any]:
    return {"inputs": [{"name": "b", "shape": [1, 10], "datatype": "FP32", **fields}]}


def test_json_data_flat_or_nested() -> None:
    flat = parse(tensor(data=list(range(10))))
    nested = parse(tensor(data=[[0, 1, 2], [3, [4, 5]], 6, 7, [8, 9]]))
    for request in (flat, nested):
        assert request.inputs["b"].dtype == np.float32
        assert request.inputs["b"].tolist() == [float(i) for i in range(10)]
        assert request.declared["b"] == Declared((1, 10))


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        ("INT8", [1, -2, 300], np.array([1, -2, 44], np.int8)),  # C cast: wraps
        ("INT64", [2**31 - 1, -(2**31)], np.array([2**31 - 1, -(2**31)], np.int64)),
        ("UINT32", [2**32 - 1, 0], np.array([2**32 - 1, 0], np.uint32)),
        ("UINT64", [7], np.array([7], np.uint64)),
        ("BOOL", [True, False], np.array([True, False])),
        ("FP64", [1, 2.5], np.array([1.0, 2.5])),
        ("BYTES", ["ab", "c"], np.array([b"ab", b"c"], dtype=object)),
    ],
)
def test_json_datatypes(datatype: str, data: list[object], expected: np.ndarray) -> None:
    got = parse({"inputs": [{"name": "x", "shape": [len(data)], "datatype": datatype, "data": data}]}).inputs["x"]
    assert got.dtype == expected.dtype and got.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("INT32", [1.5]),
        ("INT32", [1.0]),
        ("INT64", [2**31]),  # OVMS reads JSON integers as int32
        ("UINT8", [-1]),
        ("UINT64", [2**32]),
        ("BOOL", [1, 0]),
        ("FP32", ["1"]),
        ("FP32", [True]),
        ("FP32", [None]),
        ("FP16", [1.0]),  # binary only
        ("BYTES", [1]),
        ("FP32", 5),
    ],
)
def test_json_values_rejected(datatype: str, data: object) -> None:
    doc = {"inputs": [{"name": "x", "shape": [1], "datatype": datatype, "data": data}]}
    assert err(doc) == "400 " + E.REST_COULD_NOT_PARSE_INPUT.message


def test_structure_errors() -> None:
    bad_input = "400 " + E.REST_COULD_NOT_PARSE_INPUT.message
    assert err({}) == "400 " + E.REST_NO_INPUTS_FOUND.message
    assert err({"inputs": []}) == "400 " + E.REST_NO_INPUTS_FOUND.message
    assert err({"inputs": {}}) == bad_input
    assert err([1]) == "400 " + E.REST_BODY_IS_NOT_AN_OBJECT.message
    assert err({"id": 5, **tensor(data=[0] * 10)}) == bad_input
    assert err(tensor(shape=[1, -1], data=[0] * 10)) == bad_input
    assert err(tensor(shape="1,10", data=[0] * 10)) == bad_input
    assert err({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}) == bad_input
    assert err(tensor(datatype="FP33", data=[0] * 10)) == "400 " + E.REST_UNSUPPORTED_PRECISION.message
    assert err({"parameters": {"x": 1.5}, **tensor(data=[0] * 10)}) == "400 Could not parse request parameters"
    assert err({"parameters": {"x": 2**31}, **tensor(data=[0] * 10)}) == "400 Could not parse request parameters"
    assert err({"outputs": {"name": "a"}, **tensor(data=[0] * 10)}) == bad_input
    assert err({"outputs": [{"name": 1}], **tensor(data=[0] * 10)}) == "400 Could not parse output content."
    assert err(b"") == "412 The file is not valid json - Error: The document is empty. Offset: 0"
    assert (
        err(b'{"inputs": notValid}') == "412 The file is not valid json - Error: Invalid value. Offset: 12"
    )  # as src/rest_parser.cpp


def test_outputs_and_parameters() -> None:
    doc = {
        "id": "7",
        "parameters": {"binary_data_output": True, "other": "x", "n": 3},
        "outputs": [{"name": "first", "parameters": {"binary_data": True}}, {"name": "a"}],
        **tensor(data=[0] * 10),
    }
    request = parse(doc)
    assert request.id == "7" and request.binary_output
    assert [(o.name, o.binary) for o in request.outputs] == [("a", None)]  # OVMS keeps the last listed only
    not_bool = parse({"outputs": [{"name": "a", "parameters": {"binary_data": 1}}], **tensor(data=[0] * 10)})
    assert not_bool.outputs[0].binary is None


def test_binary_inputs_in_order_with_and_without_size() -> None:
    a = np.arange(3, dtype=np.float32)
    b = np.array([[1, 2]], dtype=np.int32)
    doc = {
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}},
            {"name": "j", "shape": [1], "datatype": "INT64", "data": [5]},
            {"name": "b", "shape": [1, 2], "datatype": "INT32"},  # size from the shape
        ]
    }
    request = parse(doc, a.tobytes() + b.tobytes())
    assert request.inputs["a"].tolist() == [0.0, 1.0, 2.0] and request.declared["a"] == Declared((1, 3), 12)
    assert request.inputs["j"].tolist() == [5]
    assert request.inputs["b"].tolist() == [1, 2] and request.declared["b"] == Declared((1, 2), 8)
    assert not request.inputs["a"].flags.owndata  # a view of the body, not a copy


def test_binary_errors() -> None:
    sized = tensor(parameters={"binary_data_size": 40})
    raw = np.zeros(10, np.float32).tobytes()
    assert err(sized, raw[:20]) == "400 " + E.REST_BINARY_BUFFER_EXCEEDED.message
    assert err(tensor(), raw[:20]) == "400 " + E.REST_BINARY_BUFFER_EXCEEDED.message
    assert (
        err(tensor(parameters={"binary_data_size": -1}), raw)
        == "400 " + E.REST_BINARY_DATA_SIZE_PARAMETER_INVALID.message
    )
    assert (
        err(tensor(parameters={"binary_data_size": "4, 4"}), raw)
        == "400 " + E.REST_BINARY_DATA_SIZE_PARAMETER_INVALID.message
    )
    assert (
        err(tensor(parameters={"binary_data_size": True}), raw)
        == "400 " + E.REST_BINARY_DATA_SIZE_PARAMETER_INVALID.message
    )
    both = tensor(data=[0] * 10, parameters={"binary_data_size": 40})
    assert err(both, raw) == "500 " + E.REST_CONTENTS_FIELD_NOT_EMPTY.message
    text = json.dumps(sized).encode()
    with pytest.raises(OvmsError) as info:
        parse_infer(text + raw, len(text) + len(raw) + 1, 100)
    assert info.value.status is E.REST_INFERENCE_HEADER_CONTENT_LENGTH_EXCEEDED
    assert err(text, raw, len(text) - 3).startswith("412 The file is not valid json")  # header shorter than JSON
    assert err(text, raw, 0) == "412 The file is not valid json - Error: The document is empty. Offset: 0"
    huge = {"inputs": [{"name": "b", "shape": [2**31 - 1] * 3, "datatype": "FP64"}]}
    assert err(huge) == "400 Invalid content size of tensor proto - Binary input shape dimensions overflow size_t"


@pytest.mark.parametrize(
    ("value", "ok"), [("12", 12), (" 0 ", 0), ("-1", None), ("x", None), ("1e3", None), ("99999999999", None)]
)
def test_header_length(value: str, ok: int | None) -> None:
    if ok is None:
        with pytest.raises(OvmsError) as info:
            header_length({"inference-header-content-length": value})
        assert info.value.http == 500 and info.value.status is E.REST_INFERENCE_HEADER_CONTENT_LENGTH_INVALID
    else:
        assert header_length({"inference-header-content-length": value}) == ok
    assert header_length({}) is None


def test_length_prefixed_bounds() -> None:
    raw = struct.pack("<I", 5) + b"Hello" + struct.pack("<I", 2) + b"12"
    assert length_prefixed(memoryview(raw)) == [b"Hello", b"12"]
    assert length_prefixed(memoryview(b"")) == []
    for cut in (1, 3, 6, len(raw) - 1):
        with pytest.raises(OvmsError) as info:
            length_prefixed(memoryview(raw[:cut]))
        assert info.value.status is E.INVALID_INPUT_FORMAT  # as OVMS (src/inference_request_common.hpp)


def test_declared_shape_checked_after_the_model_checks() -> None:
    def check(values: np.ndarray, declared: Declared) -> str:
        with pytest.raises(OvmsError) as info:
            validate({"b": values}, SIG, {"b": declared}, KSERVE)
        return info.value.message

    assert check(np.zeros(3, np.float32), Declared((1, 3))) == (
        "Invalid input shape - Expected: (1,10); Actual: (1,3); input name: b"
    )
    assert check(np.zeros(9, np.float32), Declared((1, 10))) == (
        "Invalid number of values in tensor proto container - Expected: 10 values; Actual: 9 values; input name: b"
    )
    assert check(np.zeros(9, np.float32), Declared((1, 10), 38)) == (
        "Invalid content size of tensor proto - Expected: 40 bytes; Actual: 38 bytes; input name: b"
    )
    assert check(np.zeros(10, np.int32), Declared((1, 10))) == (
        "Invalid input precision - Expected: FP32; Actual: INT32; input name: b"
    )
    [(spec, array)] = validate({"b": np.zeros(10, np.float32)}, SIG, {"b": Declared((1, 10))}, KSERVE)
    assert spec.name == "b" and array.shape == (1, 10)


def _rapidjson_reference(value: float) -> str:
    """rapidjson's Prettify rules applied to Python's shortest digits, written out plainly."""
    if value == 0:
        return "-0.0" if np.signbit(value) else "0.0"
    exponent = int(f"{abs(value):.17e}".split("e")[1])
    mantissa = repr(abs(value)).split("e")[0].replace(".", "").strip("0")  # the shortest digits
    point = exponent + 1  # digits before the decimal point in positional form
    sign = "-" if value < 0 else ""
    if 0 < point <= 21 and len(mantissa) <= point:
        return sign + mantissa + "0" * (point - len(mantissa)) + ".0"
    if 0 < point <= 21:
        return sign + mantissa[:point] + "." + mantissa[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + mantissa
    rest = ("." + mantissa[1:]) if len(mantissa) > 1 else ""
    return f"{sign}{mantissa[0]}{rest}e{point - 1}"


def test_double_text_follows_rapidjson_layout() -> None:
    assert [double_text(v) for v in (5.0, 92.5, 0.1, 1e21, 1e20, 1.5e-7, 1e-6, 123456.75, -0.0, 1e300)] == [
        "5.0", "92.5", "0.1", "1e21", "100000000000000000000.0", "1.5e-7", "0.000001", "123456.75", "-0.0", "1e300",
    ]  # fmt: skip
    assert double_text(float(np.float32(0.1))) == "0.10000000149011612"
    rng = random.Random(7)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 25) for _ in range(3000)]
    values += [float(np.float32(v)) for v in values[:1000]]
    for v in values:
        assert double_text(v) == _rapidjson_reference(v), v
    array = np.array(values)
    assert data_text(array) == ("[" + ", ".join(double_text(v) for v in values) + "]").encode()


def test_data_text_types() -> None:
    assert data_text(np.array([[1, -2]], np.int8)) == b"[1, -2]"
    assert data_text(np.array([True, False])) == b"[true, false]"
    assert data_text(np.array([np.nan, np.inf], np.float32)) == b"[NaN, Infinity]"
    assert data_text(np.array([2**64 - 1], np.uint64)) == b"[18446744073709551615]"
    assert data_text(np.array([b"a,b", b"c"], dtype=object)) == b'["a,b", "c"]'
    assert data_text(np.zeros((0, 3), np.float32)) == b"[]"


def test_infer_response_layout() -> None:
    outputs: list[tuple[str, np.ndarray]] = [
        ("o1", np.array([[[5.0, 10.0, -3.0, 2.5]]], np.float32)),
        ("o2", np.array([5, -2], np.int8)),
    ]
    text, tails = encode_infer("model", 1, "id", outputs, {"o2"})
    assert text.decode() == (
        "{\n"
        '    "model_name": "model",\n'
        '    "id": "id",\n'
        '    "model_version": "1",\n'
        '    "outputs": [{\n'
        '            "name": "o1",\n'
        '            "shape": [1, 1, 4],\n'
        '            "datatype": "FP32",\n'
        '            "data": [5.0, 10.0, -3.0, 2.5]\n'
        "        }, {\n"
        '            "name": "o2",\n'
        '            "shape": [2],\n'
        '            "datatype": "INT8",\n'
        '            "parameters": {\n'
        '                "binary_data_size": 2\n'
        "            }\n"
        "        }]\n"
        "}"
    )
    assert tails == [b"\x05\xfe"]
    assert (
        encode_infer("m", 2, "", [], set())[0]
        == b'{\n    "model_name": "m",\n    "model_version": "2",\n    "outputs": []\n}'
    )
