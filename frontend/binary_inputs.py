"""Binary inputs (TFS DT_STRING, KServe BYTES: object arrays of bytes, already validated) into
the tensors a model takes, as OVMS picks their use from the model input (src/tensorinfo.cpp): a
STRING input takes them as they are (``shared.strings`` carries them to the worker); a U8 input
of rank 2 takes them as a zero-padded byte matrix; a rank-4 input takes encoded images; anything
else is ``Functionality not implemented``.

Images are decoded on a small thread pool (OpenCV releases the GIL), so that a large JPEG never
stalls the front's event loop for the other requests it is serving."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ovserve.frontend import images
from ovserve.frontend.validation import Dialect, shapes_detail
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError
from ovserve.shared.signature import TensorSpec, dim_matches

DECODE_THREADS = 2
MAX_2D_STRING_BYTES = 1 << 30  # OVMS's limit on the padded matrix


def _accepts_images(layout: str) -> bool:
    """The layout intersects ``N...HWC`` (no layout set counts as OVMS's default ``N...``)."""
    if layout in ("", "...", "N..."):
        return True
    return len(layout) == 4 and all(a in ("?", b) for a, b in zip(layout, "NHWC", strict=True))


def _resizes(spec: TensorSpec) -> bool:
    """OVMS's isResizeSupported: an NHWC layout set explicitly and no unbounded dim (6.3)."""
    return spec.layout in ("NHWC", "N?HWC") and all(hi != -1 for _, hi in spec.dims)


def strings_2d(items: list[bytes]) -> np.ndarray:
    """``[N, longest + 1]`` U8, each row a string and zeros after it."""
    width = max((len(i) for i in items), default=0) + 1
    if len(items) * width > MAX_2D_STRING_BYTES:
        raise OvmsError(E.INVALID_SHAPE, E.STRINGS_TOO_LARGE)
    matrix = np.zeros((len(items), width), dtype=np.uint8)
    for row, item in zip(matrix, items, strict=True):
        row[: len(item)] = np.frombuffer(item, dtype=np.uint8)
    return matrix


def strings_2d_out(outputs: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """OVMS's way back: a U8 output of rank 2 whose name ends with ``_string`` is answered as
    strings, each row up to its first zero byte."""
    for i, (name, array) in enumerate(outputs):
        if name.endswith("_string") and array.dtype == np.uint8 and array.ndim == 2:
            rows = np.empty(array.shape[0], dtype=object)
            rows[:] = [row.tobytes().split(b"\0", 1)[0] for row in array]
            outputs[i] = (name, rows)
    return outputs


class BinaryInputs:
    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    async def convert(
        self, checked: list[tuple[TensorSpec, np.ndarray]], dialect: Dialect
    ) -> list[tuple[TensorSpec, np.ndarray]]:
        out = []
        for spec, array in checked:
            if array.dtype == object and spec.element_type != "string":  # strings travel as they are
                array = await self._tensor(spec, [bytes(i) for i in array.tolist()], dialect)
                if any(not dim_matches(d, n) for d, n in zip(spec.dims, array.shape, strict=True)):
                    raise OvmsError(E.INVALID_SHAPE, shapes_detail(spec, array.shape))
            out.append((spec, array))
        return out

    async def _tensor(self, spec: TensorSpec, items: list[bytes], dialect: Dialect) -> np.ndarray:
        rank = len(spec.dims)
        if spec.element_type == "u8" and rank == 2:
            return strings_2d(items)
        if rank != 4:
            raise OvmsError(E.NOT_IMPLEMENTED)
        if not _accepts_images(spec.layout):
            raise OvmsError(E.UNSUPPORTED_LAYOUT)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, images.decode, items, spec, dialect.empty_item, _resizes(spec))
