"""One config reload in progress, and the answer it gets (seed: 201 when something changed, 200
when nothing did and always in single-model mode, or the error texts)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ovserve.registry import Registry
from ovserve.shared import errors as E

log = logging.getLogger("ovserve.supervisor")


@dataclass
class ReloadTicket:
    """One reload in progress: answered once every load and unload it caused has settled."""

    requesters: list[tuple[bytes, int]] = field(default_factory=list)
    error: E.Status | None = None
    changed: bool = False
    config_changed: bool = False
    started: list[int] = field(default_factory=list)  # instances whose load this reload ordered
    announced: bool = False  # RELOADING=1 was sent: READY=1 follows when answered

    def outcome(self, registry: Registry, *, single_model: bool) -> tuple[int, str | None]:
        """(HTTP code, error message or None) once every load and unload has settled."""
        if self.error is not None:
            return self.error.http, self.error.message
        failure = registry.pipelines.failure
        if failure is not None and self.config_changed:
            # a pipeline that does not validate: 500, or 400 for a shape or precision mismatch
            http = failure.http if failure in (E.INVALID_SHAPE, E.INVALID_PRECISION) else 500
            return http, E.CONFIG_RELOAD_FAILED.message
        failed = registry.failed_loads(self.started)
        if failed:
            log.error("reload: versions failed to load: %s", failed)
            text = E.CONFIG_RELOAD_FAILED if self.config_changed else E.MODEL_VERSIONS_RELOAD_FAILED
            return 500, text.message
        if single_model:
            return 200, None  # single-model mode always answers 200
        return (201 if self.changed else 200), None
