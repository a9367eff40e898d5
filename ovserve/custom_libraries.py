"""The supervisor's custom node libraries: their names and paths from the config, and for each
(library, node params) what a probe process found (src/dags/node_library_utils.cpp): whether the library opens
with its six symbols, whether ``initialize`` succeeds and the node's metadata. Probes are cached
by path, file identity and params, so revalidating pipelines does not reopen the libraries."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

from ovserve.probe_messages import Params, ProbeAnswer, ProbeRequest
from ovserve.shared import errors as E
from ovserve.shared.errors import Status
from ovserve.shared.pipeline_config import CUSTOM, PipelineConfig
from ovserve.shared.signature import Signature

log = logging.getLogger("ovserve.registry")
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class NodeProbe:
    """What a node's library answered: its signature, or the failure (status, log line)."""

    signature: Signature | None
    status: Status | None = None
    log_line: str = ""


class CustomLibraries:
    def __init__(self) -> None:
        self.paths: dict[str, str] = {}  # library name -> .so path
        self._probes: dict[tuple[str, tuple[int, int, int], Params], NodeProbe] = {}

    def set_paths(self, paths: dict[str, str]) -> bool:
        """Apply the config's libraries; whether any changed (its pipelines then revalidate)."""
        changed = paths != self.paths
        self.paths = dict(paths)
        return changed

    def probe(self, library: str, params: Params) -> NodeProbe | None:
        """The probe of a node (None: no such library in the config, or it failed to open)."""
        path = self.paths.get(library)
        if path is None:
            return None
        found = self._probes.get((path, _identity(path), params))
        return None if found is None or (found.signature is None and found.status is None) else found

    def prepare(self, pipelines: list[PipelineConfig]) -> None:
        """Probe every (library, params) the pipelines use that is not probed yet: one process
        per library."""
        wanted: dict[str, set[Params]] = {}
        for p in pipelines:
            for node in p.nodes:
                path = self.paths.get(node.library) if node.kind == CUSTOM else None
                if path is not None and (path, _identity(path), node.params) not in self._probes:
                    wanted.setdefault(path, set()).add(node.params)
        for path, params in wanted.items():
            ordered = sorted(params)
            identity = _identity(path)
            for p_, found in zip(ordered, _run_probe(path, ordered), strict=True):
                self._probes[(path, identity, p_)] = found


def _identity(path: str) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _run_probe(path: str, params: list[Params]) -> list[NodeProbe]:
    request = ProbeRequest(path, tuple(params)).encode()
    opened = NodeProbe(None)  # the library did not open: the pipeline refers to an invalid library
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ovserve.custom_node_probe"],
            input=request,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.error("Custom node library %s: probing it took over %.0f s", path, PROBE_TIMEOUT_S)
        return [NodeProbe(None, E.NODE_LIBRARY_INITIALIZE_FAILED, f"Library {path} hung")] * len(params)
    if done.stderr:
        for line in done.stderr.decode(errors="replace").splitlines():
            log.info("custom node library %s: %s", os.path.basename(path), line)
    if done.returncode != 0:
        log.error("Custom node library %s: its probe died (exit %d)", path, done.returncode)
        return [NodeProbe(None, E.NODE_LIBRARY_INITIALIZE_FAILED, f"Library {path} crashed")] * len(params)
    answer = ProbeAnswer.decode(done.stdout)
    if answer.failure is not None:
        log.error("%s", answer.failure[1])
        return [opened] * len(params)
    out = []
    for node in answer.nodes:
        if node.failure is not None:
            out.append(NodeProbe(None, E.BY_NAME[node.failure[0]], node.failure[1]))
        else:
            assert node.signature is not None
            out.append(NodeProbe(Signature.from_wire(node.signature)))
    return out
