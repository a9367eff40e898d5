"""A served model's configuration (from the CLI in single-model mode, or one entry of
config.json: one builder, ``build_model_config``, for both) and the parsing of the OVMS option
strings it carries."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ovserve.shared.signature import Dim

log = logging.getLogger("ovserve.config")
T = TypeVar("T")


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
    """``--shape``: one shape for every input, one per input name, or ``auto``."""

    auto: bool = False
    all_inputs: tuple[Dim, ...] | None = None
    per_input: tuple[tuple[str, tuple[Dim, ...]], ...] = ()

    @classmethod
    def parse(cls, value: str | dict[str, str] | None) -> ShapeOption | None:
        if value is None or value == "":
            return None
        if isinstance(value, dict):
            return cls(per_input=tuple((k, parse_shape(v)) for k, v in value.items()))
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
            return cls(per_input=tuple((k, parse_shape(v)) for k, v in data.items()))
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


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: str
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    batch_size: Dim | str | None = None
    shape: ShapeOption | None = None
    layout: str | None = None
    nireq: int = 0
    target_device: str = "CPU"
    plugin_config: tuple[tuple[str, str], ...] = ()

    @property
    def uses_auto(self) -> bool:
        """``batch_size`` or ``shape`` is ``auto``: forbidden for a model a pipeline uses."""
        return self.batch_size == "auto" or (self.shape is not None and self.shape.auto)

    def load_options(self) -> LoadOptions:
        """What a worker needs to read, reshape, compile and batch a version."""
        batching = {BATCHING_KEYS[k]: int(v) for k, v in self.plugin_config if k in BATCHING_KEYS}
        return LoadOptions(
            batch_size=self.batch_size,
            shape=self.shape,
            target_device=self.target_device,
            plugin_config={k: v for k, v in self.plugin_config if k not in BATCHING_KEYS},
            max_batch=batching.get("max_batch"),
            batch_delay_us=batching.get("batch_delay_us"),
            nireq=self.nireq,
            layout=parse_layout(self.layout),
        )


@dataclass(frozen=True)
class LoadOptions:
    """A model's options as a worker applies them to each version it loads (the ``Load``
    message carries them): the reshape (``shape`` wins over ``batch_size``), the device and
    its properties, ovserve's per-model batching (None: the worker's default), ``nireq`` and
    the layouts by tensor name (``ALL_INPUTS``: every input of the layout's rank)."""

    batch_size: Dim | str | None = None
    shape: ShapeOption | None = None
    target_device: str = "CPU"
    plugin_config: dict[str, str] = field(default_factory=dict)
    max_batch: int | None = None
    batch_delay_us: int | None = None
    nireq: int = 0
    layout: dict[str, str] = field(default_factory=dict)

    def encode(self) -> list[Any]:
        batch = list(self.batch_size) if isinstance(self.batch_size, tuple) else self.batch_size
        shape = None
        if self.shape is not None:
            every = [list(d) for d in self.shape.all_inputs] if self.shape.all_inputs is not None else None
            per_input = [[k, [list(d) for d in v]] for k, v in self.shape.per_input]
            shape = [self.shape.auto, every, per_input]
        return [
            batch,
            shape,
            self.target_device,
            self.plugin_config,
            self.max_batch,
            self.batch_delay_us,
            self.nireq,
            self.layout,
        ]

    @classmethod
    def decode(cls, m: list[Any]) -> LoadOptions:
        batch, shape, device, plugin, max_batch, delay, nireq, layout = m
        option = None
        if shape is not None:
            auto, every, per_input = shape
            option = ShapeOption(
                bool(auto),
                tuple(_dim(d) for d in every) if every is not None else None,
                tuple((str(k), tuple(_dim(d) for d in v)) for k, v in per_input),
            )
        return cls(
            _dim(batch) if isinstance(batch, list) else batch,
            option,
            str(device),
            {str(k): str(v) for k, v in plugin.items()},
            max_batch,
            delay,
            int(nireq),
            {str(k): str(v) for k, v in layout.items()},
        )


def _dim(wire: list[int]) -> Dim:
    lo, hi = wire
    return (int(lo), int(hi))


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


class OptionError(ConfigError):
    """A model option OVMS rejects, with the option's key (the flag's or config.json's name)."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(text)
        self.key = key


def build_model_config(name: str, base_path: str, entry: dict[str, Any]) -> ModelConfig:
    """One served model from its options, named as config.json's keys (``batch_size``,
    ``shape``, ``layout``, ``model_version_policy``, ``nireq``, ``target_device``,
    ``plugin_config``): the one builder for single-model flags and config.json entries. Values
    are strings (flags) or JSON values (config.json); a rejected one raises ``OptionError``."""

    def parsed(key: str, parse: Callable[[Any], T]) -> T:
        try:
            return parse(entry.get(key))
        except (ConfigError, ValueError) as exc:
            raise OptionError(key, str(exc)) from None

    policy = parsed("model_version_policy", VersionPolicy.parse)
    batch = parse_batch_size(entry.get("batch_size"))
    if entry.get("batch_size") not in (None, "", 0) and batch is None:
        log.warning("Wrong batch size parameter provided. Model batch size will be set to default.")
    shape = parsed("shape", ShapeOption.parse)
    plugin = parsed("plugin_config", parse_plugin_config)
    parsed("layout", parse_layout)
    if shape is not None and batch is not None:
        log.warning("Both shape and batch size have been defined. Batch size parameter will be ignored.")
        batch = None
    layout = entry.get("layout")
    return ModelConfig(
        name=name,
        base_path=base_path,
        version_policy=policy,
        batch_size=batch,
        shape=shape,
        layout=json.dumps(layout) if isinstance(layout, dict) else layout,
        nireq=entry.get("nireq", 0),
        target_device=entry.get("target_device", "CPU"),
        plugin_config=plugin,
    )
