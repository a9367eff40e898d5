"""A short-lived process that opens one custom node library and, for each set of node params,
calls ``initialize``, ``getInputsInfo``, ``getOutputsInfo`` and ``deinitialize``: what the
supervisor validates pipelines with. A library is foreign C code; run here, a crash or a hang
in it costs this process, not the supervisor.

stdin: JSON ``{"path": ..., "params": [[[key, value], ...], ...]}``; stdout: JSON
``{"error": [status, log line] | null, "nodes": [{"error": ..., "signature": ...}, ...]}``."""

from __future__ import annotations

import json
import sys
from typing import Any

from ovserve.shared.custom_node_abi import LibraryError, NodeLibrary, Params
from ovserve.shared.errors import NAME_OF
from ovserve.shared.signature import Signature


def _node(library: NodeLibrary, params: Params) -> dict[str, Any]:
    try:
        manager = library.initialize(params)
    except LibraryError as exc:
        return {"error": [NAME_OF[exc.status], str(exc)], "signature": None}
    try:
        signature = Signature(
            library.tensors_info("inputs", params, manager), library.tensors_info("outputs", params, manager)
        )
        return {"error": None, "signature": signature.to_wire()}
    except LibraryError as exc:
        return {"error": [NAME_OF[exc.status], str(exc)], "signature": None}
    finally:
        library.deinitialize(manager)


def probe(request: dict[str, Any]) -> dict[str, Any]:
    try:
        library = NodeLibrary(request["path"])
    except LibraryError as exc:
        return {"error": [NAME_OF[exc.status], str(exc)], "nodes": []}
    nodes = [_node(library, Params(tuple((k, v) for k, v in params))) for params in request["params"]]
    return {"error": None, "nodes": nodes}


def main() -> int:
    answer = probe(json.loads(sys.stdin.read()))
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
