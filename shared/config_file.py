"""config.json: OVMS's schema (src/schema.cpp) and its translation into
ModelConfig entries.

Schema violations reject the whole file (JSON_INVALID); per-model problems (duplicate name,
missing base path) skip that model only and are reported, so that whatever can be applied is.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from ovserve.shared import errors as E
from ovserve.shared.model_config import ModelConfig, build_model_config
from ovserve.shared.model_options import ConfigError, VersionPolicy
from ovserve.shared.pipeline_config import PipelineConfig, PipelineSchemaError, parse_libraries, parse_pipelines

log = logging.getLogger("ovserve.config")

ROOT_KEYS = {
    "model_config_list",
    "pipeline_config_list",
    "mediapipe_config_list",
    "custom_node_library_config_list",
    "custom_loader_config_list",
    "monitoring",
}


class SchemaError(ValueError):
    """The file is not valid JSON or not valid against the OVMS schema."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_map(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


# key -> validator of the value, for the "config" object (additionalProperties: false)
CONFIG_KEYS: dict[str, Any] = {
    "name": lambda v: isinstance(v, str),
    "base_path": lambda v: isinstance(v, str),
    "batch_size": lambda v: (_is_int(v) and v >= 0) or isinstance(v, str),
    "shape": lambda v: isinstance(v, str) or _is_str_map(v),
    "layout": lambda v: isinstance(v, str) or _is_str_map(v),
    "model_version_policy": lambda v: isinstance(v, dict),
    "nireq": lambda v: _is_int(v) and v >= 0,
    "target_device": lambda v: isinstance(v, str),
    "allow_cache": lambda v: isinstance(v, bool),
    "plugin_config": lambda v: isinstance(v, dict) and all(isinstance(x, (str, bool, int, float)) for x in v.values()),
    "graph_path": lambda v: isinstance(v, str),
    "subconfig": lambda v: isinstance(v, str),
    "custom_loader_options": lambda v: isinstance(v, dict) and isinstance(v.get("loader_name"), str),
    "stateful": lambda v: isinstance(v, bool),
    "idle_sequence_cleanup": lambda v: isinstance(v, bool),
    "low_latency_transformation": lambda v: isinstance(v, bool),
    "max_sequence_number": lambda v: _is_int(v) and v >= 0,
}


def validate_schema(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise SchemaError("root must be an object")
    extra = set(doc) - ROOT_KEYS
    if extra:
        raise SchemaError(f"unknown root keys: {sorted(extra)}")
    models = doc.get("model_config_list")
    if not isinstance(models, list):
        raise SchemaError("model_config_list (an array) is required")
    for i, item in enumerate(models):
        if not isinstance(item, dict) or set(item) != {"config"} or not isinstance(item["config"], dict):
            raise SchemaError(f'model_config_list[{i}] must be {{"config": {{...}}}}')
        config = item["config"]
        if "name" not in config:
            raise SchemaError(f"model_config_list[{i}].config.name is required")
        for key, value in config.items():
            check = CONFIG_KEYS.get(key)
            if check is None:
                raise SchemaError(f"model_config_list[{i}].config: unknown key {key!r}")
            if not check(value):
                raise SchemaError(f"model_config_list[{i}].config.{key} has an invalid value")
        if "model_version_policy" in config:
            try:
                VersionPolicy.parse(config["model_version_policy"])
            except ConfigError as exc:
                raise SchemaError(f"model_config_list[{i}].config.model_version_policy: {exc}") from exc
    for key in (
        "pipeline_config_list",
        "mediapipe_config_list",
        "custom_node_library_config_list",
        "custom_loader_config_list",
    ):
        if key in doc and not isinstance(doc[key], list):
            raise SchemaError(f"{key} must be an array")
    monitoring = doc.get("monitoring")
    if monitoring is not None:
        metrics = monitoring.get("metrics") if isinstance(monitoring, dict) else None
        if (
            not isinstance(monitoring, dict)
            or set(monitoring) - {"metrics"}
            or not isinstance(metrics, dict)
            or not isinstance(metrics.get("enable"), bool)
            or set(metrics) - {"enable", "metrics_list"}
        ):
            raise SchemaError('monitoring must be {"metrics": {"enable": bool, "metrics_list": [...]}}')


@dataclass
class ParsedConfig:
    models: list[ModelConfig]
    pipelines: list[PipelineConfig] = field(default_factory=list)
    problems: list[tuple[E.Status, str]] = field(default_factory=list)  # per-model errors, first decides
    skipped: set[str] = field(default_factory=set)  # names whose new entry was rejected
    libraries: dict[str, str] = field(default_factory=dict)  # custom node library name -> .so path


def parse_config(raw: bytes, config_dir: str) -> ParsedConfig:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"not valid JSON: {exc}") from exc
    validate_schema(doc)
    try:
        pipelines = parse_pipelines(doc.get("pipeline_config_list"))
        libraries = parse_libraries(doc.get("custom_node_library_config_list"), config_dir)
    except PipelineSchemaError as exc:
        raise SchemaError(str(exc)) from exc
    result = ParsedConfig([], pipelines, libraries=libraries)
    for kind in ("mediapipe_config_list", "custom_loader_config_list"):
        if doc.get(kind):
            result.problems.append((E.NOT_IMPLEMENTED, f"{kind} is not supported; its entries are ignored"))
    seen: set[str] = set()
    for item in doc["model_config_list"]:
        c = item["config"]
        name = c["name"]
        if name in seen:
            result.problems.append((E.MODEL_NAME_DUPLICATE, name))
            continue
        seen.add(name)
        base = c.get("base_path") or ""  # OVMS 2026.2: optional; none means the config file's folder
        path = base if os.path.isabs(base) else os.path.normpath(os.path.join(config_dir, base))
        if ".." in base.replace("\\", "/").split("/") or not os.path.isdir(path):
            result.problems.append((E.PATH_INVALID, f"model {name}: base_path {base} does not exist"))
            result.skipped.add(name)
            continue
        try:
            model = build_model_config(name, path, c)
        except ConfigError as exc:
            result.problems.append((E.MODEL_CONFIG_INVALID, f"model {name}: {exc}"))
            result.skipped.add(name)
            continue
        result.models.append(model)
    return result
