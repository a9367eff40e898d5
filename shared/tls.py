"""TLS of the serving ports: where a port's certificate, key and CA come from (PEM files named by
OVMS PR #4334's flags, or TF Serving's SSLConfig for gRPC), read into the bytes a port serves with,
and the REST port's ``ssl.SSLContext``. A CA turns on mutual TLS: clients must present a
certificate it signed."""

from __future__ import annotations

import ssl
from typing import NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

MIN_VERSION = ssl.TLSVersion.TLSv1_2


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
