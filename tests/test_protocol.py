"""The data-plane framing and the typed messages it carries."""

from ovserve.shared import protocol as P
from ovserve.shared.messages import Attach, InferRequest, InferResult, TensorDesc


def _request(i: int) -> InferRequest:
    return InferRequest(i, "m", 1, 1, 0.0, 1.0, "a", 64 * i, [TensorDesc("x", 0, "<f4", [1, 10])], 0, 0)


def test_frames_reassemble_from_any_split() -> None:
    messages = [_request(i).encode() for i in range(5)]
    inline = InferResult(9, [TensorDesc("y", -1, "<f4", [2], b"\0" * 8)]).encode()
    stream = P.frame(messages[:2]) + P.frame(messages[2:3]) + P.frame([inline])
    expected = [*messages[:3], inline]
    for step in (1, 3, 7, len(stream)):
        reader = P.FrameReader()
        got: list = []
        for start in range(0, len(stream), step):
            got += reader.feed(stream[start : start + step])
        assert got == expected
        assert not reader.buffer


def test_messages_decode_what_they_encode() -> None:
    reader = P.FrameReader()
    failed = InferResult.failure(3, "DEADLINE_EXCEEDED", "late")
    ok = InferResult(4, [TensorDesc("y", 128, "<i8", [2, 3])])
    got = reader.feed(P.frame([_request(7).encode(), failed.encode(), ok.encode(), Attach(5).encode()]))
    assert InferRequest.decode(got[0]) == _request(7)
    assert InferResult.decode(got[1]) == failed and InferResult.decode(got[2]) == ok
    assert Attach.decode(got[3]) == Attach(5)
    assert Attach.decode(got[0]) is None and Attach.decode([3, "5"]) is None
