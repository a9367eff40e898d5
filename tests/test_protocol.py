"""The data-plane framing."""

from shared import protocol as P


def test_frames_reassemble_from_any_split() -> None:
    messages = [[P.INFER, i, "m", 1, 1, 0.0, 1.0, "a", 64 * i, [["x", 0, "<f4", [1, 10]]], 0, 0] for i in range(5)]
    stream = (
        P.frame(messages[:2])
        + P.frame(messages[2:3])
        + P.frame([[P.RESULT, 9, True, [["y", -1, "<f4", [2], b"\0" * 8]]]])
    )
    expected = [*messages[:3], [P.RESULT, 9, True, [["y", -1, "<f4", [2], b"\0" * 8]]]]
    for step in (1, 3, 7, len(stream)):
        reader = P.FrameReader()
        got: list = []
        for start in range(0, len(stream), step):
            got += reader.feed(stream[start : start + step])
        assert got == expected
        assert not reader.buffer
