"""A front's infer request descriptor as a worker's ``Job``: its version found, its deadline and
cancellation checked, its input tensors read as views of the front's shared-memory arena (mapped
once per arena); or the error result that answers it at once."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from ovserve.shared.errors import (
    DEADLINE_EXCEEDED,
    INTERNAL_ERROR,
    MODEL_VERSION_NOT_LOADED_ANYMORE,
    NAME_OF,
    Status,
)
from ovserve.shared.messages import CANCELLED, InferRequest, InferResult
from ovserve.shared.shm import Segment
from ovserve.workers.batcher import Job
from ovserve.workers.served_versions import ServedVersions
from ovserve.workers.tensors import input_array

log = logging.getLogger("ovserve.worker")


def error_result(rid: int, status: Status, details: str = "") -> list[Any]:
    return InferResult.failure(rid, NAME_OF[status], details).encode()


class JobReader:
    def __init__(self, versions: ServedVersions) -> None:
        self.versions = versions
        self.arenas: dict[str, Segment] = {}

    def job(self, front: socket.socket, message: list[Any]) -> Job | list[Any]:
        """An infer request as a Job, or the encoded error result that answers it at once."""
        req = InferRequest.decode(message)
        key = (req.model, req.version, req.instance)
        loaded = self.versions.find(key)
        if loaded is None:
            return error_result(req.rid, MODEL_VERSION_NOT_LOADED_ANYMORE)
        if time.time() > req.deadline:
            return error_result(req.rid, DEADLINE_EXCEEDED)  # the front has answered already: drop the work
        try:
            arena = self._arena(req.arena)
            if arena.buffer[req.block] == CANCELLED:
                return error_result(req.rid, DEADLINE_EXCEEDED)  # nobody waits for it any more
            arrays = [(t.name, input_array(arena, t, req.out_offset)) for t in req.inputs]
        except (OSError, ValueError, TypeError) as exc:  # e.g. the front died and its arena is gone
            log.warning("request %d: cannot read its tensors: %s", req.rid, exc)
            return error_result(req.rid, INTERNAL_ERROR)
        return Job(front, req.rid, key, loaded, arena, arrays, req.out_offset, req.out_size, req.sent, req.chain)

    def _arena(self, name: str) -> Segment:
        seg = self.arenas.get(name)
        if seg is None:
            seg = self.arenas[name] = Segment(name, 0, create=False)
        return seg

    def forget_arena(self, name: str) -> None:
        """A front is gone: unmap its arena."""
        seg = self.arenas.pop(name, None)
        if seg is not None:
            seg.close()

    def close(self) -> None:
        for seg in self.arenas.values():
            seg.close()
        self.arenas.clear()
