"""The bytes of requests a front holds at once, bounded: the REST fronts' bodies (``--max_intake_mb``,
applied by ``http.guard``) and the gRPC fronts' messages (``--grpc_memory_quota``), each refused
with its own statuses when they do not fit."""

from __future__ import annotations

from ovserve.shared import errors as E
from ovserve.shared.errors import Status


class Intake:
    """Bytes of requests a front holds at once: HTTP bodies weighted by their decoding cost, and
    (with the gRPC statuses) gRPC messages by their size, for ``--grpc_memory_quota``."""

    def __init__(self, budget: int, too_large: Status = E.INTAKE_TOO_LARGE, full: Status = E.INTAKE_FULL) -> None:
        self.budget = budget
        self.held = 0
        self.too_large, self.full = too_large, full

    def reserve(self, cost: int) -> Status | None:
        """Take ``cost`` from the budget, or the refusal when it does not fit."""
        if cost > self.budget:
            return self.too_large
        if self.held + cost > self.budget:
            return self.full
        self.held += cost
        return None

    def release(self, cost: int) -> None:
        self.held -= cost
