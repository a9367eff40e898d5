"""Each model version's block of metric cells (``shared.metrics_layout``): assigned once and
never reused, so that a reload or a respawn never resets what was counted for a version."""

from __future__ import annotations


class MetricSlots:
    def __init__(self) -> None:
        self._slots: dict[tuple[str, int], int] = {}

    def of(self, name: str, version: int) -> int:
        key = (name, version)
        found = self._slots.get(key)
        if found is None:
            found = self._slots[key] = len(self._slots)
        return found
