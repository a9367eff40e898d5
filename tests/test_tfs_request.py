import numpy as np
import pytest
from ovserve.frontend.tfs.rest_request import parse_predict
from ovserve.frontend.validation import validate
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import Signature, TensorSpec

B = TensorSpec("b", "f32", ((1, 1), (10, 10)))
DYN = TensorSpec("b", "f32", ((0, -1), (10, 10)))
A3 = TensorSpec("a", "f32", ((0, -1), (3, 3)))
B2 = TensorSpec("b", "i32", ((0, -1), (2, 2)))


def fail(body: bytes, inputs: tuple[TensorSpec, ...] = (B,)) -> OvmsError:
    with pytest.raises(OvmsError) as info:
        parse_predict(body, inputs)
    return info.value


def test_row_unnamed() -> None:
    r = parse_predict(b'{"instances": [[1,2,3,4,5,6,7,8,9,10]]}', (B,))
    assert r.row
    assert r.inputs["b"].dtype == np.float32
    assert r.inputs["b"].shape == (1, 10)
    assert r.inputs["b"][0, 9] == 10.0


def test_row_named_and_column_named() -> None:
    body = b'{"instances": [{"a": [1,2,3], "b": [4,5]}, {"a": [6,7,8], "b": [9,10]}]}'
    r = parse_predict(body, (A3, B2))
    assert r.inputs["a"].shape == (2, 3) and r.inputs["b"].dtype == np.int32
    c = parse_predict(b'{"inputs": {"a": [[1,2,3]], "b": [[4,5],[6,7]]}}', (A3, B2))
    assert not c.row and c.inputs["b"].shape == (2, 2)


def test_row_named_scalars_give_1d() -> None:
    r = parse_predict(b'{"instances": [{"b": 1}, {"b": 2}]}', (DYN,))
    assert r.inputs["b"].shape == (2,)


def test_column_scalar_and_signature_name_ignored() -> None:
    s = TensorSpec("s", "f32", ())
    r = parse_predict(b'{"signature_name": 5, "inputs": 2.5}', (s,))
    assert r.inputs["s"].shape == () and r.inputs["s"] == np.float32(2.5)


def test_int_conversion_wraps_and_truncates() -> None:
    i16 = TensorSpec("x", "i16", ((1, 1), (3, 3)))
    r = parse_predict(b'{"inputs": [[32768, 1.9, -1.9]]}', (i16,))
    assert r.inputs["x"].tolist() == [[-32768, 1, -1]]
    u64 = TensorSpec("x", "u64", ((1, 1), (1, 1)))
    assert parse_predict(b'{"inputs": [[18446744073709551615]]}', (u64,)).inputs["x"][0, 0] == 2**64 - 1


def test_empty_arrays_make_zero_dims() -> None:
    spec = TensorSpec("x", "f32", ((0, -1), (0, -1)))
    assert parse_predict(b'{"inputs": [[],[]]}', (spec,)).inputs["x"].shape == (2, 0)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[1, 2]", E.REST_BODY_IS_NOT_AN_OBJECT),
        (b'"x"', E.REST_BODY_IS_NOT_AN_OBJECT),
        (b"null", E.REST_BODY_IS_NOT_AN_OBJECT),
        (b"{}", E.REST_PREDICT_UNKNOWN_ORDER),
        (b'{"instances": [[1]], "inputs": [[1]]}', E.REST_PREDICT_UNKNOWN_ORDER),
        (b'{"instances": 5}', E.REST_INSTANCES_NOT_AN_ARRAY),
        (b'{"instances": []}', E.REST_NO_INSTANCES_FOUND),
        (b'{"instances": [null]}', E.REST_INSTANCES_NOT_NAMED_OR_NONAMED),
        (b'{"instances": [true]}', E.REST_INSTANCES_NOT_NAMED_OR_NONAMED),
        (b'{"instances": [{"b": [1]}, [1]]}', E.REST_NAMED_INSTANCE_NOT_AN_OBJECT),
        (b'{"instances": [{}]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"instances": [[1,2],[1,3],[1,4,5]]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"instances": [[1,2],[1,null]]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"instances": [[1,2],[1,true]]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"instances": [[1,2],[1,"2"]]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"instances": [[1,2],[1,{"a":1}]]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"instances": [[1,[2]],[1,2]]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"instances": [{"b": 1}, {"b": [1]}]}', E.REST_COULD_NOT_PARSE_INSTANCE),
        (b'{"inputs": [[1,2],[3]]}', E.REST_COULD_NOT_PARSE_INPUT),
        (b'{"inputs": {"b": [[1, false]]}}', E.REST_COULD_NOT_PARSE_INPUT),
        (b'{"inputs": {}}', E.REST_NO_INPUTS_FOUND),
        (b'{"inputs": "x"}', E.REST_INPUTS_NOT_AN_OBJECT),
        (b'{"inputs": true}', E.REST_INPUTS_NOT_AN_OBJECT),
        (b'{"inputs": null}', E.REST_INPUTS_NOT_AN_OBJECT),
        (b"", E.JSON_INVALID),
        (b"{bad", E.JSON_INVALID),
        (b"[" * 101 + b"]" * 101, E.JSON_NESTING_DEPTH_EXCEEDED),
        (b'{"instances": [{"b": [1]}, {"b": [2]}, {"c": [1]}]}', E.REST_INSTANCES_BATCH_SIZE_DIFFER),
    ],
)
def test_parse_errors(body: bytes, status: E.Status) -> None:
    assert fail(body).status == status


def test_json_error_text() -> None:
    e = fail(b"{instances: 1}")
    assert e.http == 412
    assert e.message == "The file is not valid json - Error: Missing a name for object member. Offset: 1"
    assert fail(b"").message == "The file is not valid json - Error: The document is empty. Offset: 0"


def test_depth_limit_counts_root() -> None:
    ok = b'{"inputs": [[1,2,3,4,5,6,7,8,9,10]], "x": ' + b"[" * 99 + b"]" * 99 + b"}"
    assert parse_predict(ok, (B,)).inputs["b"].shape == (1, 10)
    deeper = b'{"inputs": [[1,2,3,4,5,6,7,8,9,10]], "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert fail(deeper).status == E.JSON_NESTING_DEPTH_EXCEEDED
    in_string = b'{"inputs": [[1,2,3,4,5,6,7,8,9,10]], "x": "' + b"[" * 200 + b'"}'
    assert parse_predict(in_string, (B,)).inputs["b"].shape == (1, 10)


def test_input_count_rules_for_unnamed() -> None:
    assert fail(b'{"instances": [[1]]}', (A3, B2)).status == E.INVALID_INPUT_FORMAT
    assert fail(b'{"instances": [[1]]}', ()).status == E.REST_INPUT_NOT_PREALLOCATED
    assert fail(b'{"inputs": 1}', (A3, B2)).status == E.REST_INPUTS_NOT_AN_OBJECT


def test_bool_and_binary_inputs() -> None:
    flag = TensorSpec("x", "boolean", ((1, 1), (1, 1)))
    assert fail(b'{"inputs": [[1]]}', (flag,)).status == E.REST_COULD_NOT_PARSE_INPUT
    u8 = TensorSpec("x", "u8", ((1, 1), (4, 4)))
    binary = parse_predict(b'{"instances": [{"b64": "AAAA"}, {"b64": "AQ"}]}', (u8,)).inputs["x"]
    assert binary.dtype == object and binary.tolist() == [b"\0\0\0", b"\1"]  # DT_STRING [N]; padding optional
    texts = parse_predict(b'{"inputs": {"x": ["ab", "c"]}}', (u8,)).inputs["x"]
    assert texts.tolist() == [b"ab", b"c"]  # strings are accepted for U8 (and STRING) inputs
    assert fail(b'{"instances": ["abc"]}', (B,)).status == E.REST_COULD_NOT_PARSE_INSTANCE  # not for FP32
    assert fail(b'{"instances": [{"b64": "AA!A"}]}', (u8,)).status == E.REST_COULD_NOT_PARSE_INSTANCE
    assert fail(b'{"instances": [{"b64": "AAAA"}, 1]}', (u8,)).status == E.REST_COULD_NOT_PARSE_INSTANCE


def test_validation_messages() -> None:
    sig = Signature((B,), ())
    cases = [
        (b'{"inputs": {"b": [[1,2,3,4,5,6,7,8,9,10]], "c": [1]}}', "Invalid number of inputs - Expected: 1; Actual: 2"),
        (b'{"inputs": {"c": [[1]]}}', "Missing input with specific name - Required input: b"),
        (
            b'{"inputs": [1,2,3,4,5,6,7,8,9,10]}',
            "Invalid number of shape dimensions - Expected: (1,10); Actual: (10); input name: b",
        ),
        (
            b'{"inputs": [[1,2,3,4,5,6,7,8,9,10],[1,2,3,4,5,6,7,8,9,10]]}',
            "Invalid input batch size - Expected: 1; Actual: 2; input name: b",
        ),
        (b'{"inputs": [[1,2,3]]}', "Invalid input shape - Expected: (1,10); Actual: (1,3); input name: b"),
    ]
    for body, message in cases:
        with pytest.raises(OvmsError) as info:
            validate(parse_predict(body, sig.inputs).inputs, sig)
        assert info.value.message == message
        assert info.value.http == 400


def test_validation_range_text() -> None:
    spec = TensorSpec("b", "f32", ((1, 5), (10, 10)))
    sig = Signature((spec,), ())
    body = b'{"inputs": ' + b"[" + b",".join([b"[0,0,0,0,0,0,0,0,0,0]"] * 6) + b"]}"
    with pytest.raises(OvmsError) as info:
        validate(parse_predict(body, sig.inputs).inputs, sig)
    assert info.value.message == "Invalid input batch size - Expected: [1~5]; Actual: 6; input name: b"
