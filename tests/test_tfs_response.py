import json

import numpy as np
import pytest
from ovserve.frontend import json_numbers
from ovserve.frontend.json_nesting import nested
from ovserve.frontend.json_numbers import texts, tokens
from ovserve.frontend.tfs.rest_response import encode_predict
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError


def test_row_single_output_layout() -> None:
    a = np.array([[[5.0, 10.0, -3.0, 2.5]], [[9.0, 55.5, -0.5, -1.5]]], np.float32)
    assert encode_predict([("o", a)], True) == (
        b'{\n    "predictions": [[[5.0, 10.0, -3.0, 2.5]], [[9.0, 55.5, -0.5, -1.5]]\n    ]\n}'
    )


def test_row_two_outputs_layout() -> None:
    a = np.array([[[5.0, 10.0, -3.0, 2.5]], [[9.0, 55.5, -0.5, -1.5]]], np.float32)
    b = np.array([[5, 2, 3, 8, -2], [-100, 0, 125, 4, -1]], np.int8)
    expected = (
        '{\n    "predictions": [\n        {\n            "output1": [[5.0, 10.0, -3.0, 2.5]],\n'
        '            "output2": [5, 2, 3, 8, -2]\n        },\n        {\n'
        '            "output1": [[9.0, 55.5, -0.5, -1.5]],\n            "output2": [-100, 0, 125, 4, -1]\n'
        "        }\n    ]\n}"
    )
    assert encode_predict([("output1", a), ("output2", b)], True).decode() == expected


@pytest.mark.parametrize(
    ("array", "row", "text"),
    [
        (np.array([[92.5]], np.float32), True, '{\n    "predictions": [[92.5]\n    ]\n}'),
        (
            np.array([[92.5]], np.float32),
            False,
            '{\n    "outputs": [\n        [\n            92.5\n' + "        ]\n    ]\n}",
        ),
        (np.zeros((1, 0), np.float32), True, '{\n    "predictions": [[]\n    ]\n}'),
        (np.zeros((1, 0), np.float32), False, '{\n    "outputs": [\n        []\n    ]\n}'),
        (np.array(5.1, np.float32), False, '{\n    "outputs": 5.1\n}'),
        (np.zeros((0, 3), np.float32), True, '{\n    "predictions": []\n}'),
        (np.array([1, 2], np.int64), True, '{\n    "predictions": [1, 2\n    ]\n}'),
    ],
)
def test_layouts(array: np.ndarray, row: bool, text: str) -> None:
    assert encode_predict([("o", array)], row).decode() == text


def element_texts(array: np.ndarray) -> list[str]:
    """Tokens as strings, whichever path the array's size takes."""
    made = tokens(array)
    return made if isinstance(made, list) else [bytes(row[row != 0]).decode() for row in made]


def row_path(array: np.ndarray) -> list[str]:
    """Tokens from the numpy path, whatever the size."""
    return (
        [bytes(row[row != 0]).decode() for row in json_numbers._float_tokens(array.ravel())]
        if array.dtype.kind == "f"
        else [bytes(row[row != 0]).decode() for row in json_numbers._int_tokens(array.ravel())]
    )


def test_float_rule() -> None:
    f32 = np.array(
        [
            9000000,
            999999,
            0.5,
            0.0003,
            0.00003,
            555557.5,
            3,
            100000,
            1e6,
            123456789,
            1435774336,
            3.14159274,
            -0.0,
            1 / 3,
            5.1,
            92.5,
        ],
        np.float32,
    )
    assert element_texts(f32) == [
        "9e+06",
        "999999.0",
        "0.5",
        "0.0003",
        "3e-05",
        "555557.5",
        "3.0",
        "100000.0",
        "1e+06",
        "123456792.0",
        "1.43577434e+09",
        "3.14159274",
        "-0.0",
        "0.333333343",
        "5.1",
        "92.5",
    ]
    assert element_texts(np.array([np.pi, 1e100, 15.99], np.float64)) == ["3.1415926535897931", "1e+100", "15.99"]
    special = np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)
    assert element_texts(special) == ["NaN", "Infinity", "-Infinity", "1.5"]


def test_float_texts_read_back_exactly() -> None:
    values = np.random.default_rng(1).standard_normal(5000).astype(np.float32) * 1e3
    back = np.array(element_texts(values), dtype=np.float64).astype(np.float32)
    assert np.array_equal(back, values)


def test_output_errors() -> None:
    with pytest.raises(OvmsError) as info:
        encode_predict([("o", np.array(1.0, np.float32))], True)
    assert info.value.status == E.REST_PROTO_TO_STRING_ERROR
    with pytest.raises(OvmsError) as info:
        encode_predict([("a", np.zeros((1, 2), np.float32)), ("b", np.zeros((2, 2), np.float32))], True)
    assert info.value.status == E.REST_PROTO_TO_STRING_ERROR
    with pytest.raises(OvmsError) as info:
        encode_predict([("o", np.zeros((1, 2), np.float16))], False)
    assert info.value.status == E.REST_UNSUPPORTED_PRECISION
    with pytest.raises(OvmsError) as info:
        encode_predict([("o", np.zeros((1, 2), np.uint32))], False)
    assert info.value.status == E.UNSUPPORTED_SERIALIZATION_PRECISION


def _float32_samples(rng: np.random.Generator) -> np.ndarray:
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    decimals = [rng.integers(-999_999, 999_999, 20_000) * scale for scale in (1, 1e-3, 1e3, 1e-30, 1e30, 1e-40)]
    edges = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, 1.1754944e-38, 3.4028235e38, 999999.5, 9999995, 1e10]
    powers = 10.0 ** np.arange(-38, 39)
    return np.concatenate([bits, *decimals, edges, powers], dtype=np.float32)


def test_numpy_path_matches_the_rule_float32() -> None:
    values = _float32_samples(np.random.default_rng(7))
    assert row_path(values) == texts(values.tolist(), True)


def test_numpy_path_matches_the_rule_float64() -> None:
    rng = np.random.default_rng(8)
    bits = rng.integers(0, 2**64, 100_000, dtype=np.uint64).view(np.float64)
    decimals = [rng.integers(-999_999, 999_999, 20_000) * scale for scale in (1, 1e-3, 1e-17, 1e25, 1e-200, 1e300)]
    specials = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, np.finfo(np.float64).max, 0.1, 1e22, 1e23])
    values = np.concatenate([bits, *decimals, specials, 10.0 ** np.arange(-30, 40)])
    assert row_path(values) == texts(values.tolist(), False)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_numpy_path_matches_the_rule_ints(dtype: type) -> None:
    info = np.iinfo(dtype)
    values = np.random.default_rng(9).integers(info.min, info.max, 50_000, dtype=dtype, endpoint=True)
    values = np.concatenate([values, np.array([info.min, info.max, 0, 1, 9, 10], dtype)])
    assert row_path(values) == [str(v) for v in values.tolist()]


@pytest.mark.parametrize("shape", [(1, 64), (3, 5, 7), (2, 2, 2, 2, 2, 2), (70,), (1, 1, 65), (4, 0, 3), (0,), ()])
@pytest.mark.parametrize("level", [None, 1, 2])
def test_both_nestings_agree(shape: tuple[int, ...], level: int | None) -> None:
    array = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape) - 7
    as_texts = [str(v) for v in array.ravel().tolist()]
    as_rows = json_numbers._int_tokens(array.ravel())
    assert nested(as_texts, shape, level) == nested(as_rows, shape, level)
    if level is None and shape:
        assert json.loads(nested(as_texts, shape, level)) == array.tolist()


def test_large_outputs_read_back() -> None:
    big = np.random.default_rng(3).standard_normal((2, 300)).astype(np.float32)
    for row in (True, False):
        body = json.loads(encode_predict([("o", big)], row))
        assert np.array_equal(np.array(body["predictions" if row else "outputs"], np.float32), big)
    two = json.loads(encode_predict([("a", big), ("b", big[:, :5].astype(np.int32))], True))
    assert np.array_equal(np.array([p["a"] for p in two["predictions"]], np.float32), big)
