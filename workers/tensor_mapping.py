"""``mapping_config.json`` in a version folder: public names for a model's inputs and outputs,
as OVMS applies them. Clients see only the public names (metadata, requests, answers); the
config's ``shape`` and ``layout`` must name mapped tensors by their public name.

OVMS's rules: the file is optional; ``{"inputs": {real: public}, "outputs": {real: public}}``,
both optional, string values, no other key; a file that is not valid JSON or breaks that schema
is logged and ignored (the version loads without renames). Keys are the model's tensor names
(``get_any_name``)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("ovserve.worker")
FILE = "mapping_config.json"
SHAPE_MAPPED_BUT_REAL_NAME = "Shape from config has real name. Use mapped name instead"
SHAPE_NOT_IN_MODEL = "Shape from config not found in model"
LAYOUT_MAPPED_BUT_REAL_NAME = "Layout from config has real name. Use mapped name instead"
LAYOUT_NOT_IN_MODEL = "Layout from config not found in model"


class MappingError(ValueError):
    """The model config names a tensor in a way the mapping forbids (OVMS's text)."""


@dataclass(frozen=True)
class TensorMapping:
    inputs: dict[str, str] = field(default_factory=dict)  # real name -> public name
    outputs: dict[str, str] = field(default_factory=dict)

    def public_input(self, real: str) -> str:
        return self.inputs.get(real, real)

    def public_output(self, real: str) -> str:
        return self.outputs.get(real, real)

    def real_names(
        self, keys: list[str], inputs: set[str], outputs: set[str], mapped_error: str, missing_error: str
    ) -> dict[str, str]:
        """Config keys (public names) -> the model's real names; OVMS's errors for a real name
        of a mapped tensor and for a name the model does not have."""
        back = {public: real for real, public in self.inputs.items()}
        back.update({public: real for real, public in self.outputs.items() if public not in back})
        out = {}
        for key in keys:
            if (key in inputs and key in self.inputs) or (key in outputs and key in self.outputs):
                raise MappingError(mapped_error)
            real = back.get(key, key)
            if real not in inputs and real not in outputs:
                raise MappingError(missing_error)
            out[key] = real
        return out


def _valid(doc: Any) -> bool:
    if not isinstance(doc, dict) or set(doc) - {"inputs", "outputs"}:
        return False
    return all(isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in doc.values())


def read_mapping(version_dir: str, model_name: str) -> TensorMapping:
    path = os.path.join(version_dir, FILE)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return TensorMapping()  # no file: no renames (OVMS: FILE_INVALID, ignored)
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not _valid(doc):
        log.error("Model: %s mapping configuration file is not a valid JSON file.", model_name)
        return TensorMapping()
    return TensorMapping(dict(doc.get("inputs", {})), dict(doc.get("outputs", {})))
