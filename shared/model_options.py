"""The OVMS model option strings, parsed as OVMS parses them and with its texts: the version
policy, ``shape`` and ``batch_size`` dims, ``layout``, and ``plugin_config`` (with ovserve's
batching keys). Flags and config.json values alike (``model_config.build_model_config``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ovserve.shared.signature import Dim


class ConfigError(ValueError):
    """A model option that OVMS would reject."""


@dataclass(frozen=True)
class VersionPolicy:
    kind: str = "latest"  # latest | all | specific
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        """The versions (sorted) that this policy serves out of those found on disk."""
        found = sorted(available)
        if self.kind == "all":
            return found
        if self.kind == "specific":
            return [v for v in found if v in self.versions]
        return found[-self.num_versions :] if self.num_versions > 0 else []

    @classmethod
    def parse(cls, value: str | dict[str, Any] | None) -> VersionPolicy:
        if value is None or value == "":
            return cls()
        data = json.loads(value) if isinstance(value, str) else value
        if not isinstance(data, dict) or len(data) != 1:
            raise ConfigError("Model version policy must be an object with one of: all, latest, specific")
        ((kind, body),) = data.items()
        if not isinstance(body, dict):
            raise ConfigError("Model version policy is invalid")
        if kind == "all" and not body:
            return cls("all")
        if kind == "latest" and set(body) == {"num_versions"}:
            n = body["num_versions"]
            if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
                return cls("latest", num_versions=n)
        if kind == "specific" and set(body) == {"versions"}:
            vs = body["versions"]
            if isinstance(vs, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vs):
                return cls("specific", versions=tuple(vs))
        raise ConfigError(f"Model version policy is invalid: {json.dumps(data)}")


_DIM = re.compile(r"^\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?$")


def parse_dim(text: str) -> Dim:
    m = _DIM.match(text)
    if not m:
        raise ConfigError(f"Invalid dimension: {text!r}")
    lo = int(m.group(1))
    if m.group(2) is None:
        return (0, -1) if lo == -1 else (lo, lo)
    hi = int(m.group(2))
    if lo < 0 or hi < lo:
        raise ConfigError(f"Invalid dimension range: {text!r}")
    return (lo, hi)


def parse_shape(text: str) -> tuple[Dim, ...]:
    """``(1,3,224,224)``, ``(1,3,-1,-1)``, ``(1,3,200:500,200:500)``, also ``[...]``."""
    t = text.strip()
    if len(t) < 2 or t[0] not in "([" or t[-1] not in ")]":
        raise ConfigError(f"Invalid shape: {text!r}")
    inner = t[1:-1].strip()
    if not inner:
        return ()
    return tuple(parse_dim(part) for part in inner.split(","))


@dataclass(frozen=True)
class ShapeOption:
    """``--shape``: one shape for every input, one per input name (each may be ``auto``), or
    ``auto``."""

    auto: bool = False
    all_inputs: tuple[Dim, ...] | None = None
    per_input: tuple[tuple[str, tuple[Dim, ...]], ...] = ()
    auto_inputs: tuple[str, ...] = ()  # inputs of a per-input map given as "auto"

    @property
    def any_auto(self) -> bool:
        return self.auto or bool(self.auto_inputs)

    @classmethod
    def _per_input(cls, data: dict[str, str]) -> ShapeOption:
        auto = tuple(k for k, v in data.items() if v.strip() == "auto")
        return cls(per_input=tuple((k, parse_shape(v)) for k, v in data.items() if k not in auto), auto_inputs=auto)

    @classmethod
    def parse(cls, value: str | dict[str, str] | None) -> ShapeOption | None:
        if value is None or value == "":
            return None
        if isinstance(value, dict):
            return cls._per_input(value)
        text = value.strip()
        if text == "auto":
            return cls(auto=True)
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"Invalid shape: {text!r}") from exc
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise ConfigError(f"Invalid shape: {text!r}")
            return cls._per_input(data)
        return cls(all_inputs=parse_shape(text))


def parse_batch_size(value: str | int | None) -> Dim | str | None:
    """An int, ``-1``, ``min:max`` or ``auto``; None when unset or invalid (OVMS only warns)."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int):
        return (value, value)
    if value.strip() == "auto":
        return "auto"
    try:
        return parse_dim(value)
    except ConfigError:
        return None


_LAYOUT = re.compile(r"[A-Za-z?.]+(:[A-Za-z?.]+)?")
ALL_INPUTS = "*"  # a layout given as one string: it applies to every input of its rank


def parse_layout(value: str | dict[str, Any] | None) -> dict[str, str]:
    """``--layout``/``layout`` as OVMS takes it: ``NHWC:NCHW`` (served:model), ``NHWC`` (the
    model's own layout named), or a JSON map of input and output names to such strings."""
    if value is None or value == "":
        return {}
    data: Any = value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise ConfigError(f"layout is not valid JSON: {exc}") from None
    if isinstance(data, str):
        data = {ALL_INPUTS: data}
    if not isinstance(data, dict) or not data:
        raise ConfigError("layout must be a string or an object of strings")
    for name, text in data.items():
        if not isinstance(text, str) or not _LAYOUT.fullmatch(text):
            where = "" if name == ALL_INPUTS else f" (for {name})"
            raise ConfigError(f"layout {text!r}{where} is not a layout such as NHWC or NHWC:NCHW")
    return {str(k): v for k, v in data.items()}


# ovserve's per-model batching, carried in ``plugin_config`` so that config.json keeps OVMS's
# schema (whose "config" object admits no other key); never passed to OpenVINO.
# key -> (worker option, smallest value)
BATCHING_KEYS = {"OVSERVE_MAX_BATCH": "max_batch", "OVSERVE_BATCH_DELAY_US": "batch_delay_us"}
_BATCHING_MIN = {"OVSERVE_MAX_BATCH": 1, "OVSERVE_BATCH_DELAY_US": 0}


def _check_batching(key: str, value: str) -> None:
    if key not in BATCHING_KEYS:
        raise ConfigError(f"unknown ovserve option {key} in plugin_config (known: {', '.join(BATCHING_KEYS)})")
    if not value.isdigit() or int(value) < _BATCHING_MIN[key]:
        raise ConfigError(f"{key} must be an integer of at least {_BATCHING_MIN[key]}")


def parse_plugin_config(value: str | dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    if value is None or value == "":
        return ()
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise ConfigError("Plugin config must be a JSON object")
    out = []
    for key, val in data.items():
        if isinstance(val, bool):
            val = "YES" if val else "NO"
        elif not isinstance(val, (str, int, float)):
            raise ConfigError(f"Plugin config value of {key} must be a string, number or boolean")
        if str(key).startswith("OVSERVE_"):
            _check_batching(str(key), str(val))
        out.append((str(key), str(val)))
    return tuple(out)
