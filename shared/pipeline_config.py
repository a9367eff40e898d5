"""``pipeline_config_list`` of config.json: OVMS's JSON schema for DAG pipelines (src/schema.cpp)
and the typed pipeline definitions built from it (one builder: ``parse_pipelines``).

The pseudo-nodes ``request`` and ``response`` are implicit: a node input names ``request`` for
a pipeline input, the pipeline's outputs are what ``response`` takes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ovserve.config")
ENTRY = "request"
EXIT = "response"
DL_MODEL = "DL model"
CUSTOM = "custom"
DEMULTIPLY_LIMIT = 10000  # OVMS: the most shards a demultiplexer may make
DEMULTIPLY_RANGE = (-1, DEMULTIPLY_LIMIT)


class PipelineSchemaError(ValueError):
    """A pipeline entry breaks OVMS's schema: the whole config file is invalid."""


@dataclass(frozen=True)
class Source:
    """Where a tensor comes from: ``node`` (``request`` for a pipeline input) and its alias."""

    node: str
    item: str


@dataclass(frozen=True)
class NodeConfig:
    name: str
    kind: str  # DL_MODEL or CUSTOM
    model: str = ""
    version: int = 0  # 0: the model's default version
    library: str = ""
    inputs: tuple[tuple[str, Source], ...] = ()  # (the model's input name, its source)
    outputs: tuple[tuple[str, str], ...] = ()  # (alias other nodes use, the model's output name)
    params: tuple[tuple[str, str], ...] = ()
    demultiply_count: int | None = None
    gather_from: tuple[str, ...] = ()

    def output_of(self, alias: str) -> str | None:
        """The model output an alias names; a later entry with the same alias wins (as OVMS)."""
        found = None
        for a, real in self.outputs:
            if a == alias:
                found = real
        return found


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    inputs: tuple[str, ...]
    nodes: tuple[NodeConfig, ...]
    outputs: tuple[tuple[str, Source], ...]  # (the pipeline's output name, its source)
    demultiply_count: int | None = None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _sources(items: Any, where: str) -> tuple[tuple[str, Source], ...]:
    """``[{"<name>": {"node_name": ..., "data_item": ...}}, ...]``: one property per item."""
    if not isinstance(items, list):
        raise PipelineSchemaError(f"{where} must be an array")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or len(item) != 1:
            raise PipelineSchemaError(f"{where}[{i}] must be an object with exactly one property")
        ((name, value),) = item.items()
        if not isinstance(value, dict) or set(value) != {"node_name", "data_item"}:
            raise PipelineSchemaError(f"{where}[{i}].{name} must be {{node_name, data_item}}")
        if not isinstance(value["node_name"], str) or not isinstance(value["data_item"], str):
            raise PipelineSchemaError(f"{where}[{i}].{name}: node_name and data_item must be strings")
        out.append((name, Source(value["node_name"], value["data_item"])))
    return tuple(out)


def _demultiply(value: Any, where: str) -> int | None:
    if value is None:
        return None
    lo, hi = DEMULTIPLY_RANGE
    if not _is_int(value) or not lo <= value <= hi:
        raise PipelineSchemaError(f"{where}.demultiply_count must be an integer from {lo} to {hi}")
    if value == 0:
        log.warning("demultiply_count 0 will be deprecated. For dynamic count use -1.")
        return -1
    return value


NODE_KEYS = {"name", "type", "model_name", "library_name", "version", "inputs", "outputs", "params",
             "demultiply_count", "gather_from_node"}  # fmt: skip


def _node(item: Any, where: str) -> NodeConfig:
    if not isinstance(item, dict):
        raise PipelineSchemaError(f"{where} must be an object")
    extra = set(item) - NODE_KEYS
    if extra:
        raise PipelineSchemaError(f"{where}: unknown keys {sorted(extra)}")
    missing = {"name", "type", "inputs", "outputs"} - set(item)
    if missing:
        raise PipelineSchemaError(f"{where}: {sorted(missing)} required")
    kind = item["type"]
    if kind == DL_MODEL:
        if not isinstance(item.get("model_name"), str) or "library_name" in item:
            raise PipelineSchemaError(f'{where}: a "DL model" node needs model_name and no library_name')
    elif kind == CUSTOM:
        if not isinstance(item.get("library_name"), str) or "model_name" in item:
            raise PipelineSchemaError(f'{where}: a "custom" node needs library_name and no model_name')
    else:
        raise PipelineSchemaError(f'{where}.type must be "DL model" or "custom"')
    if not isinstance(item["name"], str):
        raise PipelineSchemaError(f"{where}.name must be a string")
    version = item.get("version", 0)
    if "version" in item and (not _is_int(version) or version < 1):
        raise PipelineSchemaError(f"{where}.version must be an integer of at least 1")
    outputs = item["outputs"]
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and set(o) == {"data_item", "alias"} and all(isinstance(v, str) for v in o.values())
        for o in outputs
    ):
        raise PipelineSchemaError(f"{where}.outputs must be an array of {{data_item, alias}} strings")
    params = item.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise PipelineSchemaError(f"{where}.params must be an object of strings")
    gather = item.get("gather_from_node")
    if gather is not None and not isinstance(gather, str):
        raise PipelineSchemaError(f"{where}.gather_from_node must be a string")
    return NodeConfig(
        name=item["name"],
        kind=kind,
        model=item.get("model_name", ""),
        version=version,
        library=item.get("library_name", ""),
        inputs=_sources(item["inputs"], f"{where}.inputs"),
        outputs=tuple((o["alias"], o["data_item"]) for o in outputs),
        params=tuple(sorted(params.items())),
        demultiply_count=_demultiply(item.get("demultiply_count"), where),
        gather_from=(gather,) if gather is not None else (),
    )


def parse_pipeline(item: Any, where: str) -> PipelineConfig:
    if not isinstance(item, dict):
        raise PipelineSchemaError(f"{where} must be an object")
    extra = set(item) - {"name", "inputs", "nodes", "outputs", "demultiply_count"}
    if extra:
        raise PipelineSchemaError(f"{where}: unknown keys {sorted(extra)}")
    missing = {"name", "inputs", "nodes", "outputs"} - set(item)
    if missing:
        raise PipelineSchemaError(f"{where}: {sorted(missing)} required")
    if not isinstance(item["name"], str):
        raise PipelineSchemaError(f"{where}.name must be a string")
    if not _strings(item["inputs"]):
        raise PipelineSchemaError(f"{where}.inputs must be an array of strings")
    if not isinstance(item["nodes"], list):
        raise PipelineSchemaError(f"{where}.nodes must be an array")
    inputs: list[str] = []
    for name in item["inputs"]:
        if name in inputs:
            log.warning("Pipeline %s has duplicated input declaration", item["name"])
        else:
            inputs.append(name)
    return PipelineConfig(
        name=item["name"],
        inputs=tuple(inputs),
        nodes=tuple(_node(n, f"{where}.nodes[{i}]") for i, n in enumerate(item["nodes"])),
        outputs=_sources(item["outputs"], f"{where}.outputs"),
        demultiply_count=_demultiply(item.get("demultiply_count"), where),
    )


def parse_pipelines(items: Any) -> list[PipelineConfig]:
    """Every pipeline of the list (schema errors raise); a name given twice keeps the first,
    with OVMS's log line."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise PipelineSchemaError("pipeline_config_list must be an array")
    out: list[PipelineConfig] = []
    for i, item in enumerate(items):
        pipeline = parse_pipeline(item, f"pipeline_config_list[{i}]")
        if any(p.name == pipeline.name for p in out):
            log.warning(
                "Duplicated pipeline names: %s defined in config file. Only first definition will be loaded.",
                pipeline.name,
            )
            continue
        out.append(pipeline)
    return out


def parse_libraries(items: Any, config_dir: str) -> dict[str, str]:
    """``custom_node_library_config_list``: library name -> its ``.so`` path (resolved against
    the config's folder). A path with ``..`` is logged and left out, as OVMS does: the
    pipelines that use it then fail validation ("Pipeline refers to incorrect library")."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise PipelineSchemaError("custom_node_library_config_list must be an array")
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        where = f"custom_node_library_config_list[{i}]"
        if not isinstance(item, dict) or set(item) != {"name", "base_path"}:
            raise PipelineSchemaError(f"{where} must be {{name, base_path}}")
        name, base = item["name"], item["base_path"]
        if not isinstance(name, str) or not isinstance(base, str):
            raise PipelineSchemaError(f"{where}: name and base_path must be strings")
        if ".." in base.replace("\\", "/").split("/"):
            log.error("Custom node library %s: base path %s is invalid (it contains ..)", name, base)
            continue
        if name in out:
            log.warning("Custom node library %s is defined twice: the first definition is used", name)
            continue
        out[name] = base if os.path.isabs(base) else os.path.normpath(os.path.join(config_dir, base))
    return out
