"""What both KServe v2 adapters (REST and gRPC) ask of a model, with OVMS's answers: the version
that ready and metadata describe, the infer lookup, and which BYTES inputs cannot be served."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from frontend.dataplane import DataPlane
from frontend.table import VersionEntry, unavailable_error
from shared import errors as E
from shared.errors import OvmsError
from shared.signature import Signature
from shared.states import State


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


async def infer_target(dp: DataPlane, name: str, version: int) -> VersionEntry:
    """The version an infer runs on (waiting for one that loads); an unknown name answers as
    OVMS's last lookup (model, DAG, then MediaPipe graph) does."""
    try:
        return await dp.wait_available(name, version)
    except OvmsError as exc:
        if exc.status is E.MODEL_NAME_MISSING:
            raise OvmsError(E.MEDIAPIPE_DEFINITION_NAME_MISSING) from None
        raise


def refuse_bytes(inputs: Mapping[str, np.ndarray], signature: Signature) -> None:
    """BYTES inputs, as OVMS picks their use (wave2.md 6.1): strings for a STRING input or a U8
    one of rank 2, images for rank 4, else 500 ``Functionality not implemented``. Strings and
    images are not served yet: they get the same 500, saying so."""
    specs = {t.name: t for t in signature.inputs}
    for name, array in inputs.items():
        spec = specs.get(name)
        if array.dtype != object or spec is None:
            continue
        rank = len(spec.dims)
        if spec.element_type == "string" or (spec.element_type == "u8" and rank == 2) or rank == 4:
            raise OvmsError(E.NOT_IMPLEMENTED, "string and encoded image (BYTES) inputs are not supported yet")
        raise OvmsError(E.NOT_IMPLEMENTED)
