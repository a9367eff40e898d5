"""What the supervisor and a custom node probe process say to each other, typed: the request
(a library's path and each node's params) on the probe's stdin, the answer (whether the library
opened, and per params set its signature or its failure) on its stdout, both JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Params = tuple[tuple[str, str], ...]
Failure = tuple[str, str]  # (the status's name in shared.errors, the log line)


@dataclass(frozen=True)
class ProbeRequest:
    path: str
    params: tuple[Params, ...]

    def encode(self) -> bytes:
        return json.dumps({"path": self.path, "params": [[list(kv) for kv in p] for p in self.params]}).encode()

    @classmethod
    def decode(cls, data: bytes | str) -> ProbeRequest:
        doc = json.loads(data)
        return cls(str(doc["path"]), tuple(tuple((str(k), str(v)) for k, v in p) for p in doc["params"]))


@dataclass(frozen=True)
class NodeFinding:
    """One params set: the node's signature (wire form), or why it has none."""

    signature: list[Any] | None = None
    failure: Failure | None = None


@dataclass(frozen=True)
class ProbeAnswer:
    failure: Failure | None  # the library did not open
    nodes: tuple[NodeFinding, ...] = ()

    def encode(self) -> bytes:
        nodes = [{"signature": n.signature, "failure": n.failure} for n in self.nodes]
        return json.dumps({"failure": self.failure, "nodes": nodes}).encode()

    @classmethod
    def decode(cls, data: bytes | str) -> ProbeAnswer:
        doc = json.loads(data)
        nodes = tuple(NodeFinding(n["signature"], _failure(n["failure"])) for n in doc["nodes"])
        return cls(_failure(doc["failure"]), nodes)


def _failure(value: Any) -> Failure | None:
    return (str(value[0]), str(value[1])) if value is not None else None
