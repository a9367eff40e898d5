"""The REST front's HTTP/1.1 handling on a raw socket: pipelined requests answered in order,
chunked bodies, ``Expect: 100-continue``, HTTP/1.0 and ``Connection: close``, bad heads (400),
heads over the limit (431), and a bad request after good ones answered in its turn."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from ovserve.frontend.http.connection import MAX_HEAD
from ovserve.shared import errors as E

from tests.server_util import Server

BODY = json.dumps({"instances": [[float(i) for i in range(10)]]}).encode()
EXPECTED = {"predictions": [[float(i) + 1 for i in range(10)]]}
PREDICT = b"POST /v1/models/dummy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY


def read_answers(s: socket.socket, count: int, timeout: float = 10.0) -> list[tuple[int, dict[str, str], bytes]]:
    """``count`` answers read off the socket: (status, headers, body) each."""
    s.settimeout(timeout)
    data = b""
    answers: list[Any] = []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, f"closed after {len(answers)} answers: {data[:200]!r}"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(data) < length:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
        answers.append((int(lines[0].split()[1]), headers, data[:length]))
        data = data[length:]
    return answers


def closed(s: socket.socket, timeout: float = 5.0) -> bool:
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def test_pipelined_requests_answered_in_order(config_server: Server) -> None:
    status = b"GET /v1/models/dummy HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.sendall(PREDICT + status + PREDICT * 3)
        answers = read_answers(s, 5)
    assert [a[0] for a in answers] == [200] * 5
    assert json.loads(answers[0][2]) == EXPECTED and json.loads(answers[4][2]) == EXPECTED
    assert "model_version_status" in json.loads(answers[1][2])
    assert all(a[1]["connection"] == "keep-alive" for a in answers)


def test_chunked_body(config_server: Server) -> None:
    half = len(BODY) // 2
    chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, BODY[:half], len(BODY) - half, BODY[half:])
    head = b"POST /v1/models/dummy:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.sendall(head + chunks)
        [(code, _, body)] = read_answers(s, 1)
    assert code == 200 and json.loads(body) == EXPECTED


def test_expect_100_continue(config_server: Server) -> None:
    head = b"POST /v1/models/dummy:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.sendall(head % len(BODY))
        s.settimeout(5)
        assert s.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body is sent
        s.sendall(BODY)
        [(code, _, body)] = read_answers(s, 1)
    assert code == 200 and json.loads(body) == EXPECTED


def test_http10_and_connection_close_are_closed_after_the_answer(config_server: Server) -> None:
    for head in (b"POST /v1/models/dummy:predict HTTP/1.0\r\n", b"POST /v1/models/dummy:predict HTTP/1.1\r\n"):
        with socket.create_connection(("127.0.0.1", config_server.port)) as s:
            s.sendall(head + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
            [(code, headers, body)] = read_answers(s, 1)
            assert code == 200 and json.loads(body) == EXPECTED and headers["connection"] == "close"
            assert closed(s)


def test_bad_head_is_400_after_the_good_requests_before_it(config_server: Server) -> None:
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.sendall(PREDICT + b"NOT HTTP AT ALL\r\n\r\n" + PREDICT)
        answers = read_answers(s, 2)
        assert closed(s)  # the request after the bad one is not served
    assert answers[0][0] == 200 and json.loads(answers[0][2]) == EXPECTED
    assert answers[1][0] == 400 and json.loads(answers[1][2]) == {"error": E.HTTP_BAD_REQUEST.message}
    assert answers[1][1]["connection"] == "close"


def test_head_over_the_limit_is_431(config_server: Server) -> None:
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    head = b"GET /v1/models/dummy HTTP/1.1\r\nHost: x\r\n" + filler * (MAX_HEAD // len(filler) + 2)
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.sendall(head)  # the head never ends: answered as soon as it is over the limit
        [(code, _, body)] = read_answers(s, 1)
        assert closed(s)
    assert code == 431 and json.loads(body) == {"error": E.HEAD_TOO_LARGE.message}
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.sendall(PREDICT)  # the front serves on
        [(code, _, _)] = read_answers(s, 1)
    assert code == 200


def test_upgrade_request_answered_over_http11_then_closed(config_server: Server) -> None:
    head = b"GET /v1/models/dummy HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.sendall(head + b"\x00\x01 not HTTP any more")
        [(code, headers, body)] = read_answers(s, 1)
        assert closed(s)
    assert code == 200 and "model_version_status" in json.loads(body) and headers["connection"] == "close"


def test_keep_alive_after_a_large_answer_to_a_slow_reader(config_server: Server) -> None:
    """An answer larger than the socket buffers pauses the connection's writing; once the client
    has read it, the next request on the same connection is read and answered."""
    rows = 150_000  # an answer of 7.8 MB: more than the kernel's send buffer (4 MiB) takes
    big = json.dumps({"instances": [[0.5] * 10] * rows}).encode()
    head = b"POST /v1/models/dyn:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big)
    with socket.create_connection(("127.0.0.1", config_server.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(head + big)
        time.sleep(2.0)  # the answer fills the server's buffers meanwhile: its writing pauses
        [(code, _, body)] = read_answers(s, 1, timeout=30)
        assert code == 200 and len(json.loads(body)["predictions"]) == rows
        s.sendall(PREDICT)
        [(code, _, body)] = read_answers(s, 1)
    assert code == 200 and json.loads(body) == EXPECTED
