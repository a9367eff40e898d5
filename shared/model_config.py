"""A served model's configuration (from the CLI in single-model mode, or one entry of
config.json: one builder, ``build_model_config``, for both) and the load options a worker
applies; the option strings themselves are parsed in ``model_options``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ovserve.shared.model_options import (
    BATCHING_KEYS,
    ConfigError,
    ShapeOption,
    VersionPolicy,
    parse_batch_size,
    parse_layout,
    parse_plugin_config,
)
from ovserve.shared.preprocessing import Preprocessing, PreprocessingError
from ovserve.shared.signature import Dim

log = logging.getLogger("ovserve.config")
T = TypeVar("T")


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
    preprocessing: Preprocessing | None = None  # single-model mode's --mean etc.
    allow_cache: bool = False  # config.json's "allow_cache": cache an auto-shape model's blobs too

    @property
    def uses_auto(self) -> bool:
        """``batch_size`` or ``shape`` is ``auto``: forbidden for a model a pipeline uses."""
        return self.batch_size == "auto" or (self.shape is not None and self.shape.any_auto)

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
            preprocessing=self.preprocessing,
            # OVMS caches no blobs of a model with auto shape or batch unless it allows it
            # (src/modelinstance.cpp setCacheOptions)
            cache=self.allow_cache or not self.uses_auto,
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
    preprocessing: Preprocessing | None = None
    cache: bool = True  # blobs may go to the model cache (--cache_dir)

    def encode(self) -> list[Any]:
        batch = list(self.batch_size) if isinstance(self.batch_size, tuple) else self.batch_size
        shape = None
        if self.shape is not None:
            every = [list(d) for d in self.shape.all_inputs] if self.shape.all_inputs is not None else None
            per_input = [[k, [list(d) for d in v]] for k, v in self.shape.per_input]
            shape = [self.shape.auto, every, per_input, list(self.shape.auto_inputs)]
        return [
            batch,
            shape,
            self.target_device,
            self.plugin_config,
            self.max_batch,
            self.batch_delay_us,
            self.nireq,
            self.layout,
            self.preprocessing and self.preprocessing.encode(),
            self.cache,
        ]

    @classmethod
    def decode(cls, m: list[Any]) -> LoadOptions:
        batch, shape, device, plugin, max_batch, delay, nireq, layout, preprocessing, cache = m
        option = None
        if shape is not None:
            auto, every, per_input, auto_inputs = shape
            option = ShapeOption(
                bool(auto),
                tuple(_dim(d) for d in every) if every is not None else None,
                tuple((str(k), tuple(_dim(d) for d in v)) for k, v in per_input),
                tuple(str(k) for k in auto_inputs),
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
            Preprocessing.decode(preprocessing),
            bool(cache),
        )


def _dim(wire: list[int]) -> Dim:
    lo, hi = wire
    return (int(lo), int(hi))


class OptionError(ConfigError):
    """A model option OVMS rejects, with the option's key (the flag's or config.json's name)."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(text)
        self.key = key


def build_model_config(name: str, base_path: str, entry: dict[str, Any]) -> ModelConfig:
    """One served model from its options, named as config.json's keys (``batch_size``,
    ``shape``, ``layout``, ``model_version_policy``, ``nireq``, ``target_device``,
    ``plugin_config``; from the CLI only, ``mean``, ``scale``, ``color_format``, ``precision``):
    the one builder for single-model flags and config.json entries. Values
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
    try:
        preprocessing = Preprocessing.parse(entry)
    except PreprocessingError as exc:
        raise OptionError(exc.key, str(exc)) from None
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
        preprocessing=preprocessing,
        allow_cache=entry.get("allow_cache") is True,
    )
