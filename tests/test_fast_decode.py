"""The simdjson fast path either returns exactly what the exact path returns, or declines."""

import json
from typing import Any

import numpy as np
import pytest
from ovserve.frontend.json_body import scan
from ovserve.frontend.tfs import rest_fast_decode as fast_decode
from ovserve.frontend.tfs.rest_request import parse_predict
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import TensorSpec

X = TensorSpec("x", "f32", ((0, -1), (0, -1), (0, -1)))
Y = TensorSpec("y", "f64", ((0, -1), (0, -1)))
PAD = " " * fast_decode.MIN_BODY_BYTES  # make bodies large enough for the fast path


def fast(body: bytes, inputs: tuple[TensorSpec, ...]) -> Any:
    info = scan(body)
    return fast_decode.decode(body, inputs, info.quotes, info.arrays)


def big(doc: object) -> bytes:
    return (json.dumps(doc) + PAD).encode()


@pytest.mark.parametrize(
    "doc",
    [
        {"instances": np.random.default_rng(0).standard_normal((2, 3, 4)).tolist()},
        {"inputs": [[[1, 2.5], [3, 4]]], "signature_name": "serving_default"},
        {"inputs": {"x": [[[0.1]]], "y": [[1e300, -2]]}},
        {"instances": [[[1]], [[2]]]},
        {"inputs": [[[]], [[]]]},
        {"instances": [{"x": [[1.5, 2]], "y": [3]}, {"x": [[4, 5]], "y": [6.25]}]},
        {"instances": [{"x": [[0.5]]}]},
    ],
)
def test_fast_path_equals_exact_path(doc: dict) -> None:
    body = big(doc)
    named = isinstance(doc.get("inputs"), dict) or isinstance((doc.get("instances") or [None])[0], dict)
    inputs = (X, Y) if named else (X,)
    got = fast(body, inputs)
    assert got is not None
    row, tensors = got
    exact = parse_predict(body.replace(b"  ", b""), inputs)  # too small for the fast path
    assert row == exact.row
    assert tensors.keys() == exact.inputs.keys()
    for name, array in tensors.items():
        assert array.dtype == exact.inputs[name].dtype
        assert np.array_equal(array, exact.inputs[name])


@pytest.mark.parametrize(
    "text",
    [
        '{"instances": [[[1,2]],[[3]],[[4,5,6]]]}',  # ragged with the same element count
        '{"instances": [[[1,[2]]],[[3,4]]]}',  # an array where a number belongs
        '{"instances": [[[1,true]]]}',
        '{"instances": [[[1,null]]]}',
        '{"instances": [[[1,"2"]]]}',
        '{"instances": [{"x": [[1]]}, {"x": [[1, 2]]}]}',  # per-instance shapes differ
        '{"instances": [{"x": [[1]]}, {"y": [[1]]}]}',  # instances name different inputs
        '{"instances": [{"x": [[1]]}, [[1]]]}',
        '{"instances": [{"x": 1}]}',  # scalars per instance: the exact path handles them
        '{"inputs": {"z": [[[1]]]}}',  # unknown input
        '{"inputs": [[[1]]], "extra": [1]}',
        '{"inputs": [[[1]]], "signature_name": "a\\"b"}',
        '{"inputs": 5}',
        "[1, 2]",
        '{"inputs": [[[1]]]',
    ],
)
def test_fast_path_declines(text: str) -> None:
    body = (text + PAD).encode()
    assert fast(body, (X,)) is None


def test_declined_bodies_still_get_exact_errors() -> None:
    body = ('{"instances": [[[1,2]],[[3]],[[4,5,6]]]}' + PAD).encode()
    with pytest.raises(OvmsError) as info:
        parse_predict(body, (X,))
    assert info.value.message == "Could not parse instance content. Not valid ndarray detected"
