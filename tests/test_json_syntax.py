import pytest
from ovserve.frontend.json_syntax import describe_error


@pytest.mark.parametrize(
    ("body", "message", "offset"),
    [
        (b"", "The document is empty.", 0),
        (b"   ", "The document is empty.", 3),
        (b"{instances: [1]}", "Missing a name for object member.", 1),
        (b'{"instances" [1]}', "Missing a colon after a name of object member.", 13),
        (b'{"instances": [1,2', "Missing a comma or ']' after an array element.", 18),
        (b'{"a": 1 "b": 2}', "Missing a comma or '}' after an object member.", 8),
        (b'{"instances": ["abc]}', "Missing a closing quotation mark in string.", 21),
        (b'{"instances": [1e999]}', "Number too big to be stored in double.", 15),
        (b'{"instances": [1,]}', "Invalid value.", 17),
        (b'{"a": NaN}', "Invalid value.", 6),
        (b'{"a": 1} x', "The document root must not be followed by other values.", 9),
        (b'{"a": 1.}', "Miss fraction part in number.", 8),
        (b'{"a": 1e+}', "Miss exponent in number.", 9),
        (b'{"a": "\\q"}', "Invalid escape character in string.", 7),
        (b'{"a": "\\u12G4"}', "Incorrect hex digit after \\u escape in string.", 7),
        (b'{"a": "x\x01"}', "Invalid encoding in string.", 8),
        (b'{"a": tru}', "Invalid value.", 9),
    ],
)
def test_rapidjson_messages(body: bytes, message: str, offset: int) -> None:
    assert describe_error(body) == (message, offset)


@pytest.mark.parametrize("body", [b'{"a": [1, 2.5e-3, -0, "x\\u00e9", true, null, {}]}', b"[[[[]]]]", b" 1 "])
def test_valid_documents(body: bytes) -> None:
    assert describe_error(body) is None


def test_deep_document_does_not_recurse() -> None:
    assert describe_error(b"[" * 100000 + b"]" * 100000) is None
