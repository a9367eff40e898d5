"""Model signatures as they travel from workers to the supervisor and the fronts.

A signature is plain data (msgpack-able): for each input and output its public name, its
OpenVINO element type name and its shape as ``[min, max]`` pairs (``max == -1`` means
unbounded). The tables here map element types to numpy, OVMS and TF names in one place.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# OpenVINO type name -> (numpy dtype or None, OVMS precision name, TF dtype name, KServe datatype)
ELEMENT_TYPES: dict[str, tuple[str | None, str, str, str]] = {
    "f32": ("float32", "FP32", "DT_FLOAT", "FP32"),
    "f64": ("float64", "FP64", "DT_DOUBLE", "FP64"),
    "f16": ("float16", "FP16", "DT_HALF", "FP16"),
    "bf16": (None, "BF16", "DT_INVALID", "BF16"),
    "i64": ("int64", "I64", "DT_INT64", "INT64"),
    "i32": ("int32", "I32", "DT_INT32", "INT32"),
    "i16": ("int16", "I16", "DT_INT16", "INT16"),
    "i8": ("int8", "I8", "DT_INT8", "INT8"),
    "u64": ("uint64", "U64", "DT_UINT64", "UINT64"),
    "u32": ("uint32", "U32", "DT_UINT32", "UINT32"),
    "u16": ("uint16", "U16", "DT_UINT16", "UINT16"),
    "u8": ("uint8", "U8", "DT_UINT8", "UINT8"),
    "boolean": ("bool", "BOOL", "DT_BOOL", "BOOL"),
    "string": (None, "STRING", "DT_STRING", "BYTES"),
}
_UNKNOWN = (None, "UNDEFINED", "DT_INVALID", "UNDEFINED")


def tf_dtype(element_type: str) -> str:
    return ELEMENT_TYPES.get(element_type, _UNKNOWN)[2]


def ovms_precision(element_type: str) -> str:
    return ELEMENT_TYPES.get(element_type, _UNKNOWN)[1]


def kserve_datatype(element_type: str) -> str:
    return ELEMENT_TYPES.get(element_type, _UNKNOWN)[3]


_PRECISION_OF_NUMPY = {t[0]: t[1] for t in ELEMENT_TYPES.values() if t[0]}
# KServe datatype -> numpy dtype (BYTES: variable-length items, an object array)
KSERVE_NUMPY: dict[str, np.dtype] = {t[3]: np.dtype(t[0] or object) for t in ELEMENT_TYPES.values() if t[3] != "BF16"}
_KSERVE_OF_NUMPY = {dtype: name for name, dtype in KSERVE_NUMPY.items()}
# TF dtype name -> numpy dtype (DT_STRING: variable-length items, an object array)
TF_NUMPY: dict[str, np.dtype] = {t[2]: np.dtype(t[0] or object) for t in ELEMENT_TYPES.values() if t[2] != "DT_INVALID"}
_TF_OF_NUMPY = {dtype: name for name, dtype in TF_NUMPY.items()}


def tf_of_numpy(dtype: np.dtype) -> str:
    return _TF_OF_NUMPY.get(dtype, "DT_INVALID")


def precision_of_numpy(dtype: np.dtype) -> str:
    """OVMS precision name of a numpy dtype (for messages about request tensors)."""
    return _PRECISION_OF_NUMPY.get(str(dtype), "INVALID")


def kserve_of_numpy(dtype: np.dtype) -> str:
    """KServe datatype name of a numpy dtype (KServe's messages name request tensors so)."""
    return _KSERVE_OF_NUMPY.get(dtype, "INVALID")


@functools.cache
def numpy_dtype(element_type: str) -> np.dtype | None:
    name = ELEMENT_TYPES.get(element_type, _UNKNOWN)[0]
    return np.dtype(name) if name else None


Dim = tuple[int, int]  # (min, max); max == -1: unbounded
UNDEFINED = "undefined"  # the element type of a pipeline input wired straight to its response: no metadata


def dim_matches(dim: Dim, value: int) -> bool:
    lo, hi = dim
    return value >= lo and (hi == -1 or value <= hi)


def dim_text(dim: Dim) -> str:
    """OVMS's Dimension::toString: ``5``, ``-1`` or ``[1~5]``."""
    lo, hi = dim
    if lo == hi:
        return str(lo)
    if hi == -1 and lo == 0:
        return "-1"
    return f"[{lo}~{hi}]"


def dim_metadata(dim: Dim) -> int:
    """Metadata prints dynamic and range dimensions as -1."""
    lo, hi = dim
    return lo if lo == hi else -1


def shape_text(dims: list[Dim] | tuple[int, ...], *, actual: bool = False) -> str:
    if actual:
        return "(" + ",".join(str(d) for d in dims) + ")"
    return "(" + ",".join(dim_text(d) for d in dims) + ")"  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    element_type: str
    dims: tuple[Dim, ...]
    layout: str = ""  # e.g. "NHWC" (OpenVINO's letters, "?" for an unnamed dim); "": none set

    @property
    def dtype(self) -> np.dtype | None:
        return numpy_dtype(self.element_type)

    def static_nbytes(self, batch: int) -> int | None:
        """Byte size with dim 0 set to ``batch``, or None when another dim is dynamic."""
        dtype = self.dtype
        if dtype is None:
            return None
        n = dtype.itemsize
        for i, (lo, hi) in enumerate(self.dims):
            if i == 0:
                n *= batch
            elif lo == hi:
                n *= lo
            else:
                return None
        return n

    def to_wire(self) -> list[Any]:
        return [self.name, self.element_type, [list(d) for d in self.dims], self.layout]

    @classmethod
    def from_wire(cls, data: list[Any]) -> TensorSpec:
        name, element_type, dims, layout = data
        return cls(name, element_type, tuple((int(a), int(b)) for a, b in dims), layout)


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # the model's rt_info "model_info" section (nested maps, other values as strings), which
    # OVMS adds to KServe REST model metadata (Intel's Model API reads labels and model_type there)
    model_info: dict[str, Any] | None = field(default=None, compare=False)

    def to_wire(self) -> list[Any]:
        return [[t.to_wire() for t in self.inputs], [t.to_wire() for t in self.outputs], self.model_info]

    @classmethod
    def from_wire(cls, data: list[Any]) -> Signature:
        ins, outs, model_info = data
        return cls(
            tuple(TensorSpec.from_wire(t) for t in ins),
            tuple(TensorSpec.from_wire(t) for t in outs),
            model_info,
        )
