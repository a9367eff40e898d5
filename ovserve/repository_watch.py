"""What is wrong with each model's repository (a base path that cannot be read, no version
folder), kept by the registry's rescans and logged once when it appears, changes or goes, not
at every poll; and why a model has no version to serve after its first loads."""

from __future__ import annotations

import logging

from ovserve.records import ModelRecord
from ovserve.shared.states import State

log = logging.getLogger("ovserve.registry")


class RepositoryWatch:
    def __init__(self) -> None:
        self.problems: dict[str, str] = {}  # model -> its problem
        self.quiet = False  # single-model start: the supervisor reports the one problem that stops it

    def note(self, name: str, problem: str, error: bool) -> None:
        """This rescan's finding for ``name`` ("" when its versions were listed)."""
        if self.problems.get(name, "") == problem:
            return
        if problem:
            self.problems[name] = problem
            if not self.quiet:
                (log.error if error else log.warning)("model %s: %s", name, problem)
        else:
            del self.problems[name]
            if not self.quiet:
                log.info("model %s: versions found again in its path", name)

    def startup_problem(self, name: str, record: ModelRecord | None) -> str | None:
        """Why ``record`` has no AVAILABLE version after its first loads (single-model mode
        stops on it), or None."""
        if record is None or any(v.state == State.AVAILABLE for v in record.versions.values()):
            return None
        if name in self.problems:
            return self.problems[name]
        for number, v in sorted(record.versions.items(), reverse=True):
            failures = v.current.failures if v.current is not None else {}
            if failures:
                return f"version {number} failed to load: {next(iter(failures.values()))}"
        return "no version could be loaded"
