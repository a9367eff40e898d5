import numpy as np
import pytest

from frontend.tfs_response import element_texts, encode_predict
from shared import errors as E
from shared.errors import OvmsError


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
