"""A short-lived process that opens one custom node library and, for each set of node params,
calls ``initialize``, ``getInputsInfo``, ``getOutputsInfo`` and ``deinitialize``: what the
supervisor validates pipelines with. A library is foreign C code; run here, a crash or a hang
in it costs this process, not the supervisor.

stdin: a ``ProbeRequest``; stdout: a ``ProbeAnswer`` (``probe_messages``)."""

from __future__ import annotations

import sys

from ovserve.probe_messages import NodeFinding, ProbeAnswer, ProbeRequest
from ovserve.shared.custom_node_abi import LibraryError, NodeLibrary, Params
from ovserve.shared.errors import NAME_OF
from ovserve.shared.signature import Signature


def _node(library: NodeLibrary, params: Params) -> NodeFinding:
    try:
        manager = library.initialize(params)
    except LibraryError as exc:
        return NodeFinding(failure=(NAME_OF[exc.status], str(exc)))
    try:
        signature = Signature(
            library.tensors_info("inputs", params, manager), library.tensors_info("outputs", params, manager)
        )
        return NodeFinding(signature.to_wire())
    except LibraryError as exc:
        return NodeFinding(failure=(NAME_OF[exc.status], str(exc)))
    finally:
        library.deinitialize(manager)


def probe(request: ProbeRequest) -> ProbeAnswer:
    try:
        library = NodeLibrary(request.path)
    except LibraryError as exc:
        return ProbeAnswer((NAME_OF[exc.status], str(exc)))
    return ProbeAnswer(None, tuple(_node(library, Params(params)) for params in request.params))


def main() -> int:
    answer = probe(ProbeRequest.decode(sys.stdin.buffer.read()))
    sys.stdout.buffer.write(answer.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
