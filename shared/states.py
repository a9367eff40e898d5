"""Model version states and error codes, with TF Serving's numeric values."""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


class ErrorCode(IntEnum):
    OK = 0
    UNKNOWN = 2
    FAILED_PRECONDITION = 9
