"""Pipeline definitions as config.json writes them, for the tests and the bench."""

from __future__ import annotations

from typing import Any

Links = dict[str, tuple[str, str]]  # name -> (node_name, data_item)


def _sources(links: Links) -> list[dict[str, Any]]:
    return [{k: {"node_name": n, "data_item": d}} for k, (n, d) in links.items()]


def node(name: str, model: str, inputs: Links, outputs: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A "DL model" node; ``outputs``: alias -> the model's output name."""
    return {
        "name": name,
        "model_name": model,
        "type": "DL model",
        "inputs": _sources(inputs),
        "outputs": [{"data_item": real, "alias": alias} for alias, real in outputs.items()],
        **extra,
    }


def pipeline(name: str, inputs: list[str], nodes: list[dict[str, Any]], outputs: Links) -> dict[str, Any]:
    return {"name": name, "inputs": inputs, "nodes": nodes, "outputs": _sources(outputs)}


def custom_node(
    name: str, library: str, inputs: Links, outputs: dict[str, str], params: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """A "custom" node; ``outputs``: alias -> the library's output name."""
    return {
        "name": name,
        "library_name": library,
        "type": "custom",
        "params": params,
        "inputs": _sources(inputs),
        "outputs": [{"data_item": real, "alias": alias} for alias, real in outputs.items()],
        **extra,
    }
