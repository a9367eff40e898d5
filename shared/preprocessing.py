"""OVMS's classic-model preprocessing flags (2026.0+, single-model mode only): ``--mean``,
``--scale``, ``--color_format`` and ``--precision``, parsed as OVMS parses them
(src/modelconfig.cpp, src/color_format_configuration.cpp, src/precision_configuration.cpp) and
with its texts. The worker applies them with OpenVINO's PrePostProcessor
(``workers.model_host``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ovserve.shared.model_options import ConfigError

PREPROCESSING_FLAGS = ("mean", "scale", "color_format", "precision")
FLOAT_WRONG = "The provided float is in wrong format"
COLOR_WRONG = "The provided color format is in wrong format"
PRECISION_WRONG = "The provided precision is in wrong format"
# OVMS's names -> OpenVINO's ov.preprocess.ColorFormat names
COLOR_FORMATS = {
    "RGB": "RGB",
    "BGR": "BGR",
    "GRAY": "GRAY",
    "NV12": "NV12_SINGLE_PLANE",
    "NV12_2": "NV12_TWO_PLANES",
    "I420": "I420_SINGLE_PLANE",
    "I420_3": "I420_THREE_PLANES",
}
# OVMS's names -> OpenVINO's element type names
PRECISIONS = {
    "BF16": "bf16",
    "FP64": "f64",
    "FP32": "f32",
    "FP16": "f16",
    "INT64": "i64",
    "INT32": "i32",
    "INT16": "i16",
    "INT8": "i8",
    "INT4": "i4",
    "UINT64": "u64",
    "UINT32": "u32",
    "UINT16": "u16",
    "UINT8": "u8",
    "UINT4": "u4",
    "UINT1": "u1",
}
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(E[+-]?\d+)?|[+-]?(INF|INFINITY|NAN)")

Floats = tuple[float, ...]


class PreprocessingError(ConfigError):
    """A flag's value OVMS cannot parse; ``key`` names the flag."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(text)
        self.key = key


def parse_floats(text: str | None) -> float | Floats | None:
    """``1.5``, or ``[a,b,c]`` / ``(a,b,c)``: one value for every channel, or one per channel."""
    if not text:
        return None
    command = re.sub(r"\s", "", text.upper())
    if len(command) >= 2 and (command[0], command[-1]) in (("[", "]"), ("(", ")")):
        items = command[1:-1].split(",")
        if not all(_FLOAT.fullmatch(i) for i in items):
            raise ConfigError(FLOAT_WRONG)
        return tuple(float(i) for i in items)
    if not _FLOAT.fullmatch(command):
        raise ConfigError(FLOAT_WRONG)
    return float(command)


def _pair(text: str, names: dict[str, str], error: str) -> tuple[str, str]:
    first, sep, second = text.upper().partition(":")
    if not sep or first not in names or second not in names:
        raise ConfigError(error)
    return names[first], names[second]


@dataclass(frozen=True)
class Preprocessing:
    """What the worker applies after the layout, in OVMS's order: colour, precision, mean, scale.
    The two pairs read in opposite directions, as OVMS's: ``--color_format MODEL:CLIENT`` and
    ``--precision CLIENT:MODEL``."""

    mean: float | Floats | None = None
    scale: float | Floats | None = None
    color: tuple[str, str] | None = None  # (model's, client's) ov ColorFormat names
    precision: tuple[str, str] | None = None  # (client's, model's) element type names

    @classmethod
    def parse(cls, entry: dict[str, Any]) -> Preprocessing | None:
        """From the flags' strings; None when none is given. ``ConfigError`` with OVMS's text."""
        parsed: dict[str, Any] = {}
        for key, parse in (
            ("mean", parse_floats),
            ("scale", parse_floats),
            ("color_format", lambda t: _pair(t, COLOR_FORMATS, COLOR_WRONG) if t else None),
            ("precision", lambda t: _pair(t, PRECISIONS, PRECISION_WRONG) if t else None),
        ):
            try:
                parsed[key] = parse(entry.get(key))
            except ConfigError as exc:
                raise PreprocessingError(key, str(exc)) from None
        mean, scale, color, precision = parsed.values()
        if mean is None and scale is None and color is None and precision is None:
            return None
        return cls(mean, scale, color, precision)

    def encode(self) -> list[Any]:
        def values(v: float | Floats | None) -> Any:
            return list(v) if isinstance(v, tuple) else v

        return [
            values(self.mean),
            values(self.scale),
            self.color and list(self.color),
            self.precision and list(self.precision),
        ]

    @classmethod
    def decode(cls, m: list[Any] | None) -> Preprocessing | None:
        if m is None:
            return None
        mean, scale, color, precision = m

        def values(v: Any) -> float | Floats | None:
            return tuple(float(x) for x in v) if isinstance(v, list) else v

        return cls(
            values(mean),
            values(scale),
            (str(color[0]), str(color[1])) if color else None,
            (str(precision[0]), str(precision[1])) if precision else None,
        )
