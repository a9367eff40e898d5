"""The TLS flags checked at start: which port gets which sources, and every file read, parsed,
matched (key to certificate) and dated before any process starts. A problem is one line naming
the flag (the CLI prints it and exits 64)."""

from __future__ import annotations

import argparse
import os

from ovserve.cli_flags import UsageError
from ovserve.shared.tls import TlsError, TlsFiles, checked_material


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
                checked_material(files, port)
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
