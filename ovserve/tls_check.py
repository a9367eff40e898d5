"""The TLS flags checked at start: which port gets which sources, and every file read, parsed,
matched (key to certificate) and dated before any process starts. A problem is one line naming
the flag (the CLI prints it and exits 64)."""

from __future__ import annotations

import argparse
import base64
import datetime
import os
import re
import ssl
import tempfile

from ovserve.cli_flags import UsageError
from ovserve.shared.tls import TlsError, TlsFiles, TlsMaterial, read_material

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def tls_plan(a: argparse.Namespace) -> tuple[TlsFiles | None, TlsFiles | None]:
    """(REST, gRPC) TLS sources; None: that port is plain."""
    rest = _port_files(a, "rest", a.rest_port)
    grpc = _port_files(a, "grpc", a.port)
    if a.ssl_config_file:
        if grpc is not None:
            raise UsageError("ssl_config_file and grpc_certificate_path cannot both be set")
        if not a.port:
            raise UsageError("ssl_config_file is set but port is not set. TLS needs the gRPC port")
        grpc = TlsFiles(ssl_config=os.path.abspath(a.ssl_config_file))
    for files, port in ((rest, "rest"), (grpc, "grpc")):
        if files is not None:
            try:
                check_material(read_material(files, port), port, files)
            except TlsError as exc:
                raise UsageError(str(exc)) from None
    return rest, grpc


def _port_files(a: argparse.Namespace, port: str, number: int) -> TlsFiles | None:
    cert, key, ca = (getattr(a, f"{port}_{k}_path") for k in ("certificate", "key", "ca"))
    if not (cert or key or ca):
        return None
    if not cert or not key:
        raise UsageError(f"{port}_certificate_path and {port}_key_path must be set together")
    if not number:
        flag = "rest_port" if port == "rest" else "port"
        raise UsageError(f"{port}_certificate_path is set but {flag} is not set")
    return TlsFiles(os.path.abspath(cert), os.path.abspath(key), os.path.abspath(ca) if ca else "")


def check_material(material: TlsMaterial, port: str, files: TlsFiles) -> None:
    """The certificate parses, is within its dates and matches the key; the CA parses."""
    cert_flag, key_flag, ca_flag = (f"{port}_{k}_path" for k in ("certificate", "key", "ca"))
    if files.ssl_config:
        cert_flag = key_flag = ca_flag = "ssl_config_file"
    _check_dates(material.cert, cert_flag)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="ovserve-tls-") as folder:  # 0700: the key never lies open
        cert_file, key_file = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, data in ((cert_file, material.cert), (key_file, material.key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(data)
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc):
                raise TlsError(f"{key_flag}: the key does not belong to the certificate of {cert_flag}") from None
            raise TlsError(f"{key_flag}: not a PEM private key for {cert_flag} ({exc.reason or exc})") from None
    if material.ca is not None:
        try:
            context.load_verify_locations(cadata=material.ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsError(f"{ca_flag}: not PEM CA certificates ({exc})") from None


def _check_dates(pem: bytes, flag: str) -> None:
    match = _PEM_CERT.search(pem)
    if match is None:
        raise TlsError(f"{flag}: no PEM certificate found")
    try:
        not_before, not_after = certificate_dates(base64.b64decode(match.group(1)))
    except (ValueError, IndexError) as exc:
        raise TlsError(f"{flag}: the certificate does not parse ({exc})") from None
    now = datetime.datetime.now(datetime.UTC)
    if not_after < now:
        raise TlsError(f"{flag}: the certificate expired on {not_after:%Y-%m-%d %H:%M:%S} UTC")
    if not_before > now:
        raise TlsError(f"{flag}: the certificate is not valid before {not_before:%Y-%m-%d %H:%M:%S} UTC")


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at ``at``."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    if at + length > len(data):
        raise ValueError("truncated DER")
    return tag, at, at + length


def _time(tag: int, text: bytes) -> datetime.datetime:
    value = text.decode("ascii")
    parsed = datetime.datetime.strptime(value, "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ")
    return parsed.replace(tzinfo=datetime.UTC)


def certificate_dates(der: bytes) -> tuple[datetime.datetime, datetime.datetime]:
    """notBefore and notAfter of an X.509 certificate (RFC 5280: Certificate -> tbsCertificate
    -> [version], serialNumber, signature, issuer, validity)."""
    _, cert_start, _ = _tlv(der, 0)
    _, at, _ = _tlv(der, cert_start)  # tbsCertificate
    tag, _, end = _tlv(der, at)
    if tag == 0xA0:  # the explicit version
        at = end
    for _ in range(3):  # serialNumber, signature, issuer
        _, _, at = _tlv(der, at)
    _, at, _ = _tlv(der, at)  # validity
    before_tag, before_start, before_end = _tlv(der, at)
    after_tag, after_start, after_end = _tlv(der, before_end)
    return _time(before_tag, der[before_start:before_end]), _time(after_tag, der[after_start:after_end])
