"""Encoded images (JPEG, PNG, anything OpenCV reads) into a model's NHWC input, as OVMS turns
binary inputs into tensors (src/tensor_conversion.hpp): ``cv::imdecode`` unchanged (BGR order, grayscale and
alpha kept, 16-bit kept), one resolution per batch unless resizing is allowed, the model's
channel count, its H and W (a range clamps the image's size, -1 takes it), then a conversion by
value (no scaling, integers saturated) to the model's precision.

OpenCV is imported on the first image, so fronts that never see one do not pay its memory.
Decoded images are capped at ``MAX_IMAGE_PIXELS`` before any pixel is allocated (OpenCV's own
cap is 2^30 pixels, several GiB per image): a PNG that declares huge dimensions fails to parse.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType

import numpy as np
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError, Status
from ovserve.shared.signature import Dim, TensorSpec

MAX_IMAGE_PIXELS = 1 << 25  # 33.5 Mpx (8K x 4K); OPENCV_IO_MAX_IMAGE_PIXELS overrides
# OVMS's convertTo targets; other precisions (I64, U32, U64, BOOL, ...) are refused
_PRECISIONS: dict[str, np.dtype] = {
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "f16": np.dtype(np.float16),
    "i16": np.dtype(np.int16),
    "u8": np.dtype(np.uint8),
    "i8": np.dtype(np.int8),
    "u16": np.dtype(np.uint16),
    "i32": np.dtype(np.int32),
}


@functools.cache
def _cv2() -> ModuleType:
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # a bad image is the client's error, not a log line
    import cv2

    return cv2


def _target(dim: Dim, size: int) -> int:
    lo, hi = dim
    if lo == hi:
        return lo
    if hi == -1:
        return size if lo == 0 else max(lo, size)
    return min(max(size, lo), hi)


def decode(items: list[bytes], spec: TensorSpec, empty: Status, resize: bool) -> np.ndarray:
    """The batch ``[N, H, W, C]`` in the model's precision; ``resize``: the model's layout and
    dims let OVMS resize (isResizeSupported), else every image must already have the target size."""
    if len(spec.dims) != 4:
        raise OvmsError(E.INVALID_SHAPE)
    cv2 = _cv2()
    images = []
    for item in items:
        if not item:
            raise OvmsError(empty)
        try:
            image = cv2.imdecode(np.frombuffer(item, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error:  # e.g. declared dimensions over the pixel cap
            image = None
        if image is None:
            raise OvmsError(E.IMAGE_PARSING_FAILED)
        images.append(image if image.ndim == 3 else image[:, :, None])
    first = images[0]
    if not resize and any(i.shape[:2] != first.shape[:2] for i in images):
        raise OvmsError(E.BINARY_IMAGES_RESOLUTION_MISMATCH)
    _, h_dim, w_dim, c_dim = spec.dims
    channels = c_dim[0] if c_dim[0] == c_dim[1] else first.shape[2]
    if any(i.shape[2] != channels for i in images):
        raise OvmsError(E.INVALID_NO_OF_CHANNELS)
    height, width = _target(h_dim, first.shape[0]), _target(w_dim, first.shape[1])
    dtype = _PRECISIONS.get(spec.element_type)
    if dtype is None:
        raise OvmsError(E.INVALID_PRECISION)
    batch = np.empty((len(images), height, width, channels), dtype=dtype)
    for n, image in enumerate(images):
        if image.shape[:2] != (height, width):
            if not resize:
                raise OvmsError(E.INVALID_SHAPE)
            image = cv2.resize(image, (width, height)).reshape(height, width, channels)
        if dtype.kind in "iu":  # OpenCV's convertTo saturates (e.g. U8 200 -> I8 127)
            info = np.iinfo(dtype)
            image = np.clip(image, info.min, info.max)
        batch[n] = image  # by value, as convertTo without scaling
    return batch
