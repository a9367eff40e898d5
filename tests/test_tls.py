"""TLS and mutual TLS on both ports, with certificates the tests make (trustme), and clients
unchanged: requests, curl, tritonclient (HTTP and gRPC), ovmsclient (gRPC), a TF Serving stub over
``grpc.ssl_channel_credentials``; and every file problem stopping the start with one line."""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import ovmsclient
import psutil
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
import trustme
from ovserve.frontend.grpc_api.proto import tf_serving_pb2 as tfs
from ovserve.frontend.grpc_api.proto import tf_serving_pb2_grpc as tfs_grpc

from ovserve.cli import settings_from_args
from ovserve.cli_flags import UsageError
from tests.debian_tools import debian_tool
from tests.server_util import Server, free_port

DUMMY_ROW = {"instances": [[1.0] * 10]}


class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, as PEM files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca = trustme.CA()
        self.ca_pem = self._write("ca.pem", self.ca.cert_pem.bytes())
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.cert = self._write("server.pem", b"".join(p.bytes() for p in server.cert_chain_pems))
        self.key = self._write("server.key", server.private_key_pem.bytes())
        client = self.ca.issue_cert("client@example.test")
        self.client_cert = self._write("client.pem", b"".join(p.bytes() for p in client.cert_chain_pems))
        self.client_key = self._write("client.key", client.private_key_pem.bytes())

    def _write(self, name: str, data: bytes) -> str:
        path = self.folder / name
        path.write_bytes(data)
        return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(repo: str, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """HTTPS on the REST port (no client certificate), mutual TLS on the gRPC port."""
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--rest_certificate_path", pki.cert, "--rest_key_path", pki.key]
    args += ["--grpc_certificate_path", pki.cert, "--grpc_key_path", pki.key, "--grpc_ca_path", pki.ca_pem]
    s = Server(args, str(tmp_path_factory.mktemp("logs") / "tls.log"), grpc=True, tls_ca=pki.ca_pem)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def https(s: Server) -> str:
    return s.url.replace("http://", "https://")


def test_rest_over_https(server: Server, pki: Pki) -> None:
    r = requests.post(https(server) + "/v1/models/dummy:predict", json=DUMMY_ROW, verify=pki.ca_pem, timeout=10)
    assert r.json() == {"predictions": [[2.0] * 10]}
    with pytest.raises(requests.exceptions.SSLError):  # a client that does not trust the CA
        requests.get(https(server) + "/v2/health/ready", timeout=10)
    with pytest.raises(requests.exceptions.ConnectionError):  # plain HTTP to a TLS port
        requests.get(server.url + "/v2/health/ready", timeout=10)
    assert "ovserve serving REST at https://" in server.read_log()


def test_curl(server: Server, pki: Pki) -> None:
    curl = debian_tool("curl", "curl")
    out = subprocess.run(
        [curl, "-sS", "--cacert", pki.ca_pem, https(server) + "/v2/models/dummy"], capture_output=True, timeout=30
    )
    assert out.returncode == 0 and b'"name":"dummy"' in out.stdout


def test_tritonclient_http(server: Server, pki: Pki) -> None:
    client = triton_http.InferenceServerClient(
        server.url.removeprefix("http://"), ssl=True, ssl_options={"ca_certs": pki.ca_pem}
    )
    assert client.is_server_ready()
    data = triton_http.InferInput("b", [1, 10], "FP32")
    data.set_data_from_numpy(np.ones((1, 10), np.float32))
    assert client.infer("dummy", [data]).as_numpy("a").tolist() == [[2.0] * 10]


def test_grpc_mutual_tls(server: Server, pki: Pki) -> None:
    address = f"localhost:{server.grpc_port}"
    triton = triton_grpc.InferenceServerClient(
        address, ssl=True, root_certificates=pki.ca_pem, private_key=pki.client_key, certificate_chain=pki.client_cert
    )
    assert triton.is_server_ready()
    ovms = ovmsclient.make_grpc_client(
        address,
        tls_config={
            "server_cert_path": pki.ca_pem,
            "client_cert_path": pki.client_cert,
            "client_key_path": pki.client_key,
        },
    )
    out = ovms.predict(inputs={"b": np.ones((1, 10), np.float32)}, model_name="dummy")
    assert out.tolist() == [[2.0] * 10]
    credentials = grpc.ssl_channel_credentials(
        Path(pki.ca_pem).read_bytes(), Path(pki.client_key).read_bytes(), Path(pki.client_cert).read_bytes()
    )
    with grpc.secure_channel(address, credentials) as channel:
        request = tfs.GetModelStatusRequest()
        request.model_spec.name = "dummy"
        status = tfs_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
        assert status.model_version_status[0].state == tfs.ModelVersionStatus.AVAILABLE
    anonymous = triton_grpc.InferenceServerClient(address, ssl=True, root_certificates=pki.ca_pem)
    with pytest.raises(Exception, match="UNAVAILABLE"):  # no client certificate: the handshake fails
        anonymous.is_server_ready()


@pytest.mark.slow
def test_rest_mutual_tls_and_ssl_config_file(repo: str, pki: Pki, tmp_path: Path) -> None:
    """A CA on the REST port requires client certificates; TF Serving's SSLConfig (PEM texts
    inside a text-format file) serves gRPC TLS without client certificates."""
    pem = {name: Path(path).read_text() for name, path in (("cert", pki.cert), ("key", pki.key), ("ca", pki.ca_pem))}
    config = tmp_path / "ssl_config.txt"
    config.write_text(
        f"server_key: {_quoted(pem['key'])}\nserver_cert: {_quoted(pem['cert'])}\ncustom_ca: {_quoted(pem['ca'])}\n"
        "client_verify: false\n"
    )
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--rest_certificate_path", pki.cert, "--rest_key_path", pki.key, "--rest_ca_path", pki.ca_pem]
    args += ["--ssl_config_file", str(config)]
    with Server(
        args, str(tmp_path / "mtls.log"), grpc=True, tls_ca=pki.ca_pem, tls_client=(pki.client_cert, pki.client_key)
    ) as s:
        s.wait_ready()
        cert = (pki.client_cert, pki.client_key)
        r = requests.post(
            https(s) + "/v1/models/dummy:predict", json=DUMMY_ROW, verify=pki.ca_pem, cert=cert, timeout=10
        )
        assert r.status_code == 200
        with pytest.raises(requests.exceptions.RequestException):  # no client certificate
            requests.get(https(s) + "/v2/health/ready", verify=pki.ca_pem, timeout=10)
        client = triton_grpc.InferenceServerClient(f"localhost:{s.grpc_port}", ssl=True, root_certificates=pki.ca_pem)
        assert client.is_server_ready()


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _start_error(*flags: str) -> str:
    base = ["--model_name", "m", "--model_path", "/m", "--rest_port", str(free_port()), "--port", str(free_port())]
    with pytest.raises(UsageError) as info:
        settings_from_args([*base, *flags])
    return str(info.value)


def test_file_problems_stop_the_start(pki: Pki, tmp_path: Path) -> None:
    other = trustme.CA().issue_cert("127.0.0.1")
    other_key = tmp_path / "other.key"
    other_key.write_bytes(other.private_key_pem.bytes())
    expired = pki.ca.issue_cert(
        "127.0.0.1",
        not_after=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        not_before=datetime.datetime(2019, 1, 1, tzinfo=datetime.UTC),
    )
    expired_pem = tmp_path / "expired.pem"
    expired_pem.write_bytes(expired.cert_chain_pems[0].bytes())
    expired_key = tmp_path / "expired.key"
    expired_key.write_bytes(expired.private_key_pem.bytes())
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    assert _start_error("--rest_certificate_path", "/nonexistent.pem", "--rest_key_path", pki.key) == (
        "rest_certificate_path: cannot read /nonexistent.pem: No such file or directory"
    )
    assert _start_error("--rest_certificate_path", pki.cert) == (
        "rest_certificate_path and rest_key_path must be set together"
    )
    assert _start_error("--grpc_certificate_path", pki.cert, "--grpc_key_path", str(other_key)) == (
        "grpc_key_path: the key does not belong to the certificate of grpc_certificate_path"
    )
    assert _start_error("--rest_certificate_path", str(expired_pem), "--rest_key_path", str(expired_key)) == (
        "rest_certificate_path: the certificate expired on 2020-01-01 00:00:00 UTC"
    )
    assert _start_error("--rest_certificate_path", str(garbage), "--rest_key_path", pki.key) == (
        "rest_certificate_path: no PEM certificate found"
    )
    text = _start_error("--grpc_certificate_path", pki.cert, "--grpc_key_path", pki.key, "--grpc_ca_path", str(garbage))
    assert text.startswith("grpc_ca_path: not PEM CA certificates")
    assert _start_error("--ssl_config_file", str(garbage)).startswith(
        f"ssl_config_file: {garbage} is not a tensorflow.serving.SSLConfig"
    )
    assert _start_error(
        "--ssl_config_file", str(garbage), "--grpc_certificate_path", pki.cert, "--grpc_key_path", pki.key
    ) == ("ssl_config_file and grpc_certificate_path cannot both be set")
    with pytest.raises(UsageError, match="rest_certificate_path is set but rest_port is not set"):
        settings_from_args(
            [
                "--model_name",
                "m",
                "--model_path",
                "/m",
                "--port",
                "9",
                "--rest_certificate_path",
                pki.cert,
                "--rest_key_path",
                pki.key,
            ]
        )


@pytest.mark.slow
def test_certificates_rotate_on_sighup(repo: str, tmp_path: Path) -> None:
    """SIGHUP (``systemctl reload``) re-reads the files: new connections get the new certificate;
    a broken new file keeps the old one, and says why."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first, second = Pki(tmp_path / "first"), Pki(tmp_path / "second")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes(Path(first.cert).read_bytes())
    key.write_bytes(Path(first.key).read_bytes())
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--rest_certificate_path", str(cert), "--rest_key_path", str(key)]
    args += ["--grpc_certificate_path", str(cert), "--grpc_key_path", str(key)]
    with Server(args, str(tmp_path / "rotate.log"), grpc=True, tls_ca=first.ca_pem) as s:
        s.wait_ready()

        def rest_trusts(pki: Pki) -> bool:
            try:
                return requests.get(https(s) + "/v2/health/ready", verify=pki.ca_pem, timeout=10).status_code == 200
            except requests.exceptions.SSLError:
                return False

        def grpc_trusts(pki: Pki) -> bool:
            client = triton_grpc.InferenceServerClient(
                f"localhost:{s.grpc_port}", ssl=True, root_certificates=pki.ca_pem
            )
            try:
                return bool(client.is_server_ready())
            except Exception:
                return False
            finally:
                client.close()

        assert rest_trusts(first) and not rest_trusts(second) and grpc_trusts(first)
        cert.write_bytes(Path(second.cert).read_bytes())
        key.write_bytes(Path(second.key).read_bytes())
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while not rest_trusts(second) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert rest_trusts(second) and not rest_trusts(first)
        assert grpc_trusts(second)
        cert.write_text("broken\n")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "TLS: keeping the current certificate" not in s.read_log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "TLS: keeping the current certificate: rest_certificate_path: no PEM certificate found" in s.read_log()
        assert rest_trusts(second) and grpc_trusts(second)


@pytest.mark.slow
def test_hostile_tls_clients_are_bounded(repo: str, pki: Pki, tmp_path: Path) -> None:
    """Clients that open TLS and never send, send garbage instead of a ClientHello, or flood the
    port with handshakes that never finish: each is cut off by the read deadline (the handshake is
    part of it), and the port keeps serving everyone else meanwhile."""
    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--rest_certificate_path", pki.cert, "--rest_key_path", pki.key, "--rest_read_timeout_seconds", "1"]
    with Server(args, str(tmp_path / "hostile.log"), tls_ca=pki.ca_pem) as s:
        s.wait_ready()
        silent = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(200)]
        garbage = socket.create_connection(("127.0.0.1", s.port))
        garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(512))
        ok = requests.get(https(s) + "/v2/health/ready", verify=pki.ca_pem, timeout=10)
        assert ok.status_code == 200  # served while 200 handshakes hang
        deadline = time.monotonic() + 10
        for sock in silent:  # each is closed by the server after about the read deadline
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            assert sock.recv(1) == b""
            sock.close()
        garbage.settimeout(5)
        answer = garbage.recv(4096)  # a TLS alert record (0x15) or nothing, then the close
        assert answer == b"" or answer[:1] == b"\x15"
        while answer:
            answer = garbage.recv(4096)
        garbage.close()
        assert requests.get(https(s) + "/v2/health/ready", verify=pki.ca_pem, timeout=10).status_code == 200


@pytest.mark.slow
def test_fuzzed_handshakes_never_hurt_the_port(repo: str, pki: Pki, tmp_path: Path) -> None:
    """Random bytes, and real TLS records cut or corrupted at random, sent to the TLS port: each
    connection ends (an alert, or the close), no front process dies, and the port keeps serving."""
    import random

    args = ["--model_name", "dummy", "--model_path", os.path.join(repo, "dummy"), "--worker_processes", "1"]
    args += ["--rest_certificate_path", pki.cert, "--rest_key_path", pki.key, "--rest_read_timeout_seconds", "2"]
    with Server(args, str(tmp_path / "fuzz.log"), tls_ca=pki.ca_pem) as s:
        s.wait_ready()
        fronts = {p.pid for p in psutil.Process(s.proc.pid).children() if "ovserve.frontend" in " ".join(p.cmdline())}
        hello = _client_hello()
        rng = random.Random(29)
        for i in range(300):
            if i % 3 == 0:
                data = rng.randbytes(rng.randint(1, 2048))
            else:  # a real ClientHello with some bytes flipped, or cut short
                flipped = bytearray(hello)
                for _ in range(rng.randint(1, 8)):
                    flipped[rng.randrange(len(flipped))] = rng.randrange(256)
                data = bytes(flipped[: rng.randint(1, len(flipped))]) if i % 3 == 2 else bytes(flipped)
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(4096):  # until the server closes (at the latest, the read deadline)
                    pass
        after = {p.pid for p in psutil.Process(s.proc.pid).children() if "ovserve.frontend" in " ".join(p.cmdline())}
        assert after == fronts  # no front died and was respawned
        assert requests.get(https(s) + "/v2/health/ready", verify=pki.ca_pem, timeout=10).status_code == 200


def _client_hello() -> bytes:
    """The first flight a real client sends: its ClientHello record, captured in memory."""
    import ssl

    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()
