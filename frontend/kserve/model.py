"""What both KServe v2 transports (REST and gRPC) share, with OVMS's answers: the server's name
and version, the version that ready and metadata describe, the checks before validation, and
BYTES tensors as length-prefixed items (the binary extension, ``raw_*_contents``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ovserve.frontend.dataplane import DataPlane
from ovserve.frontend.table import VersionEntry, unavailable_error
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import Signature
from ovserve.shared.states import State

SERVER_NAME = "OpenVINO Model Server"
SERVER_VERSION = "2026.2.0"  # the OVMS release whose API ovserve serves


def described(dp: DataPlane, name: str, version: int) -> VersionEntry:
    """The version ready/metadata describe: an explicit one, or the highest AVAILABLE (none:
    404 ``version is not found``, as OVMS's default-version lookup)."""
    entry = dp.resolve(name, version)
    if entry.state == State.AVAILABLE and entry.signature is not None:
        return entry
    if not version:
        raise OvmsError(E.MODEL_VERSION_MISSING)
    raise unavailable_error(entry)


def is_ready(dp: DataPlane, name: str, version: int) -> bool:
    """ModelReady: AVAILABLE or not; unknown names and versions are errors."""
    try:
        described(dp, name, version)
    except OvmsError as exc:
        if exc.status in (E.MODEL_VERSION_NOT_LOADED_YET, E.MODEL_VERSION_NOT_LOADED_ANYMORE):
            return False
        if exc.status is E.MODEL_VERSION_MISSING and not version:
            return False  # known model, no AVAILABLE version yet
        raise
    return True


def versions_listed(dp: DataPlane, name: str, entry: VersionEntry) -> list[int]:
    """Metadata's ``versions``: every AVAILABLE version, plus the one described."""
    return sorted({*dp.available_versions(name), entry.version})


def precheck(listed: int, inputs: Mapping[str, np.ndarray], signature: Signature) -> None:
    """What a KServe request fails before the data plane validates it: an input listed twice
    (``listed`` counts the request's entries, ``inputs`` holds one per name)."""
    if listed != len(inputs):
        raise OvmsError(E.INVALID_NO_OF_INPUTS, f"Expected: {len(signature.inputs)}; Actual: {listed}")


def raw_contents(array: np.ndarray) -> bytes:
    """An output's bytes for the binary extension and ``raw_output_contents``: the tensor's data,
    or for BYTES each element as a 4-byte little-endian length and its bytes."""
    if array.dtype != object:
        return array.tobytes()
    return b"".join(len(i).to_bytes(4, "little") + i for i in array.reshape(-1).tolist())


def length_prefixed(raw: memoryview) -> list[bytes]:
    """BYTES elements of the binary extension: each a 4-byte little-endian length, then the bytes.
    A length that runs past the buffer, or bytes left over that cannot hold a length, are OVMS's
    INVALID_INPUT_FORMAT (src/inference_request_common.hpp)."""
    items, i, n = [], 0, len(raw)
    while i < n:
        if i + 4 > n:
            raise OvmsError(E.INVALID_INPUT_FORMAT)
        length = int.from_bytes(raw[i : i + 4], "little")
        if i + 4 + length > n:
            raise OvmsError(E.INVALID_INPUT_FORMAT)
        items.append(bytes(raw[i + 4 : i + 4 + length]))
        i += 4 + length
    return items
