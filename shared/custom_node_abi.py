"""OVMS's custom node C interface (custom_node_interface.h), called through ctypes: the library's six
functions, its structs and precisions, and the rules OVMS applies to what a library hands back
(names, precisions, content sizes, and ``release`` on exactly the pointers it allocated).

Used by the supervisor's probe process (metadata, at validation) and by the fronts (execution);
ctypes releases the GIL during each call, so executions can run in threads."""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, Structure, c_char_p, c_int, c_uint64, c_void_p
from dataclasses import dataclass

import numpy as np
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError, Status
from ovserve.shared.signature import Dim, TensorSpec, numpy_dtype

SYMBOLS = ("initialize", "deinitialize", "execute", "getInputsInfo", "getOutputsInfo", "release")
# CustomNodeTensorPrecision (a C enum) -> OpenVINO element type; 0 is UNSPECIFIED
PRECISIONS = {1: "f32", 2: "f16", 3: "u8", 4: "i8", 5: "i16", 6: "u16", 7: "i32", 8: "f64", 9: "i64"}
_PRECISION_OF_NUMPY = {str(numpy_dtype(e)): p for p, e in PRECISIONS.items()}


class CustomNodeTensor(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("data", c_void_p),
        ("dataBytes", c_uint64),
        ("dims", POINTER(c_uint64)),
        ("dimsCount", c_uint64),
        ("precision", c_int),
    ]


class CustomNodeTensorInfo(Structure):
    _fields_ = [("name", c_char_p), ("dims", POINTER(c_uint64)), ("dimsCount", c_uint64), ("precision", c_int)]


class CustomNodeParam(Structure):
    _fields_ = [("key", c_char_p), ("value", c_char_p)]


_PARAMS = POINTER(CustomNodeParam)
_SIGNATURES = {
    "initialize": [POINTER(c_void_p), _PARAMS, c_int],
    "deinitialize": [c_void_p],
    "execute": [
        POINTER(CustomNodeTensor),
        c_int,
        POINTER(POINTER(CustomNodeTensor)),
        POINTER(c_int),
        _PARAMS,
        c_int,
        c_void_p,
    ],
    "getInputsInfo": [POINTER(POINTER(CustomNodeTensorInfo)), POINTER(c_int), _PARAMS, c_int, c_void_p],
    "getOutputsInfo": [POINTER(POINTER(CustomNodeTensorInfo)), POINTER(c_int), _PARAMS, c_int, c_void_p],
    "release": [c_void_p, c_void_p],
}


class LibraryError(Exception):
    """A library call failed: the OVMS status and the log line."""

    def __init__(self, status: Status, log_line: str) -> None:
        super().__init__(log_line)
        self.status = status


@dataclass(frozen=True)
class Params:
    """A node's ``params`` as the C array the library reads (kept alive with its strings)."""

    items: tuple[tuple[str, str], ...]

    def c_array(self) -> tuple[ctypes.Array[CustomNodeParam], int]:
        array = (CustomNodeParam * max(1, len(self.items)))()
        for i, (key, value) in enumerate(self.items):
            array[i].key, array[i].value = key.encode(), value.encode()
        return array, len(self.items)


def _dims(pointer: ctypes._Pointer[c_uint64], count: int) -> tuple[int, ...]:
    return tuple(int(pointer[i]) for i in range(count)) if count and pointer else ()


class NodeLibrary:
    """One opened library (``dlopen(RTLD_LAZY | RTLD_LOCAL)``) with its six functions."""

    def __init__(self, path: str) -> None:
        try:
            self.lib = ctypes.CDLL(path, mode=os.RTLD_LAZY | os.RTLD_LOCAL)
        except OSError as exc:
            raise LibraryError(E.NODE_LIBRARY_LOAD_FAILED_OPEN, f"Library: {path} failed to open: {exc}") from exc
        self.path = path
        for name in SYMBOLS:
            try:
                function = getattr(self.lib, name)
            except AttributeError as exc:
                raise LibraryError(
                    E.NODE_LIBRARY_LOAD_FAILED_SYM, f"Library: {path} failed to load symbol: {name}"
                ) from exc
            function.argtypes, function.restype = _SIGNATURES[name], c_int

    def initialize(self, params: Params) -> int:
        """The node's manager pointer (0 when the library keeps none)."""
        manager = c_void_p()
        array, count = params.c_array()
        if self.lib.initialize(ctypes.byref(manager), array, count) != 0:
            raise LibraryError(
                E.NODE_LIBRARY_INITIALIZE_FAILED, f"Initialization of library with base path: {self.path} failed"
            )
        return manager.value or 0

    def deinitialize(self, manager: int) -> int:
        return int(self.lib.deinitialize(manager))

    def tensors_info(self, which: str, params: Params, manager: int) -> tuple[TensorSpec, ...]:
        """getInputsInfo / getOutputsInfo as tensor specs (a dim of 0: dynamic)."""
        info = POINTER(CustomNodeTensorInfo)()
        count = c_int()
        array, n = params.c_array()
        function = self.lib.getInputsInfo if which == "inputs" else self.lib.getOutputsInfo
        if function(ctypes.byref(info), ctypes.byref(count), array, n, manager) != 0:
            raise LibraryError(E.NODE_LIBRARY_METADATA_FAILED, f"Library: {self.path} failed on {which} metadata call")
        try:
            if count.value <= 0 or not info:
                raise LibraryError(
                    E.NODE_LIBRARY_OUTPUTS_CORRUPTED_COUNT, f"Library: {self.path} {which} metadata count {count.value}"
                )
            specs = []
            for i in range(count.value):
                entry = info[i]
                dims: tuple[Dim, ...] = tuple((0, -1) if d == 0 else (d, d) for d in _dims(entry.dims, entry.dimsCount))
                element = PRECISIONS.get(entry.precision)
                if entry.name is None or element is None:
                    raise LibraryError(
                        E.NODE_LIBRARY_METADATA_FAILED,
                        f"Library: {self.path} {which} metadata {i}: no name or bad precision",
                    )
                specs.append(TensorSpec(entry.name.decode(errors="replace"), element, dims))
            return tuple(specs)
        finally:
            if info:
                for i in range(max(0, count.value)):
                    if info[i].dims:
                        self.lib.release(ctypes.cast(info[i].dims, c_void_p), manager)
                self.lib.release(ctypes.cast(info, c_void_p), manager)

    def execute(
        self, inputs: list[tuple[str, np.ndarray]], params: Params, manager: int
    ) -> list[tuple[str, np.ndarray]]:
        """Run the node on ``inputs`` (contiguous numpy arrays, read in place); the outputs are
        copied out of the library's memory, which is then released."""
        tensors = (CustomNodeTensor * max(1, len(inputs)))()
        keep = []
        for i, (name, array) in enumerate(inputs):
            a = np.ascontiguousarray(array)
            dims = (c_uint64 * max(1, a.ndim))(*a.shape)
            keep += [a, dims]
            t = tensors[i]
            t.name, t.data, t.dataBytes = name.encode(), a.ctypes.data, a.nbytes
            t.dims, t.dimsCount = ctypes.cast(dims, POINTER(c_uint64)), a.ndim
            t.precision = _PRECISION_OF_NUMPY.get(str(a.dtype), 0)
        outputs = POINTER(CustomNodeTensor)()
        count = c_int()
        param_array, n = params.c_array()
        if self.lib.execute(tensors, len(inputs), ctypes.byref(outputs), ctypes.byref(count), param_array, n, manager):
            raise OvmsError(E.NODE_LIBRARY_EXECUTION_FAILED)
        if not outputs:
            raise OvmsError(E.NODE_LIBRARY_OUTPUTS_CORRUPTED)
        try:
            if count.value <= 0:
                raise OvmsError(E.NODE_LIBRARY_OUTPUTS_CORRUPTED_COUNT)
            return [self._copy_out(outputs[i]) for i in range(count.value)]
        finally:
            for i in range(max(0, count.value)):
                for pointer in (outputs[i].data, ctypes.cast(outputs[i].dims, c_void_p).value):
                    if pointer:
                        self.lib.release(pointer, manager)
            self.lib.release(ctypes.cast(outputs, c_void_p), manager)

    @staticmethod
    def _copy_out(t: CustomNodeTensor) -> tuple[str, np.ndarray]:
        if t.name is None:
            raise OvmsError(E.NODE_LIBRARY_OUTPUT_MISSING_NAME)
        element = PRECISIONS.get(t.precision)
        if element is None:
            raise OvmsError(E.NODE_LIBRARY_INVALID_PRECISION)
        shape = _dims(t.dims, t.dimsCount)
        dtype = numpy_dtype(element)
        assert dtype is not None
        size = dtype.itemsize
        for d in shape:
            size *= d
        if size != t.dataBytes or (size and not t.data):
            raise OvmsError(E.NODE_LIBRARY_INVALID_CONTENT_SIZE)
        out = np.empty(shape, dtype=dtype)
        if size:
            ctypes.memmove(out.ctypes.data, t.data, size)
        return t.name.decode(errors="replace"), out
