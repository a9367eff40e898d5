"""TLS of the serving ports: where a port's certificate, key and CA come from (PEM files named by
OVMS PR #4334's flags, or TF Serving's SSLConfig for gRPC), read into the bytes a port serves with,
and the REST port's ``ssl.SSLContext``. A CA turns on mutual TLS: clients must present a
certificate it signed."""

from __future__ import annotations

import base64
import datetime
import os
import re
import ssl
import tempfile
from typing import NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

MIN_VERSION = ssl.TLSVersion.TLSv1_2
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


class TlsFiles(NamedTuple):
    """A TLS port's sources: PEM file paths, or (gRPC) an SSLConfig file holding the PEM texts."""

    cert: str = ""
    key: str = ""
    ca: str = ""  # "": no client certificate is asked for
    ssl_config: str = ""  # TF Serving's --ssl_config_file: the other fields are then empty


class TlsMaterial(NamedTuple):
    cert: bytes
    key: bytes
    ca: bytes | None  # the roots client certificates are verified against
    require_client: bool


def _ssl_config_class() -> type:
    """``tensorflow.serving.SSLConfig`` (tensorflow_serving/config/ssl_config.proto): fields
    server_key = 1, server_cert = 2, custom_ca = 3 (PEM texts) and client_verify = 4."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="ovserve/ssl_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    message = proto.message_type.add(name="SSLConfig")
    string, boolean = descriptor_pb2.FieldDescriptorProto.TYPE_STRING, descriptor_pb2.FieldDescriptorProto.TYPE_BOOL
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    for number, (name, kind) in enumerate(
        (("server_key", string), ("server_cert", string), ("custom_ca", string), ("client_verify", boolean)), 1
    ):
        message.field.add(name=name, number=number, type=kind, label=optional)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.SSLConfig"))


SSLConfig = _ssl_config_class()


class TlsError(ValueError):
    """A TLS source that cannot be used; the text names the flag."""


def read_ssl_config(path: str) -> TlsMaterial:
    """TF Serving's SSLConfig text file as the gRPC port's material (client_verify: mutual TLS,
    with custom_ca as the roots)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise TlsError(f"ssl_config_file: cannot read {path}: {exc.strerror}") from None
    config = SSLConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise TlsError(f"ssl_config_file: {path} is not a tensorflow.serving.SSLConfig: {exc}") from None
    if not config.server_cert or not config.server_key:
        raise TlsError(f"ssl_config_file: {path} needs both server_cert and server_key")
    if config.client_verify and not config.custom_ca:
        raise TlsError(f"ssl_config_file: {path} sets client_verify without custom_ca")
    ca = config.custom_ca.encode() if config.custom_ca else None
    return TlsMaterial(config.server_cert.encode(), config.server_key.encode(), ca, config.client_verify)


def _read(flag: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TlsError(f"{flag}: cannot read {path}: {exc.strerror}") from None


def read_material(files: TlsFiles, port: str) -> TlsMaterial:
    """The bytes a port serves with; ``port`` is "rest" or "grpc" (it names the flags)."""
    if files.ssl_config:
        return read_ssl_config(files.ssl_config)
    cert = _read(f"{port}_certificate_path", files.cert)
    key = _read(f"{port}_key_path", files.key)
    ca = _read(f"{port}_ca_path", files.ca) if files.ca else None
    return TlsMaterial(cert, key, ca, ca is not None)


def rest_context(files: TlsFiles) -> ssl.SSLContext:
    """The REST port's server context: TLS 1.2 or later, Python's default (forward-secret,
    AEAD-first) ciphers, HTTP/1.1 by ALPN; with a CA, a client certificate is required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSION
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    context.load_cert_chain(files.cert, files.key)
    if files.ca:
        context.load_verify_locations(cafile=files.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


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


def checked_material(files: TlsFiles, port: str) -> TlsMaterial:
    """The port's material, read and checked (``TlsError`` naming the flag when it cannot serve)."""
    material = read_material(files, port)
    check_material(material, port, files)
    return material


class RestTls:
    """The REST port's TLS, replaceable while the port serves: the listening context's SNI hook
    (OpenSSL calls it for every ClientHello, with or without a server name) hands each new
    connection the current context; connections already open keep theirs."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        checked_material(files, "rest")
        self.current = rest_context(files)
        self.listening = self.current  # given to the server; its verify mode is the flags' (fixed)
        self.listening.sni_callback = self._pick

    def _pick(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if connection.context is not self.current:
            connection.context = self.current

    def reload(self) -> None:
        """Re-read the files; ``TlsError`` (and the current context kept) when they cannot serve."""
        checked_material(self.files, "rest")
        try:
            context = rest_context(self.files)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"rest_certificate_path: {exc}") from None
        context.sni_callback = self._pick
        self.current = context
