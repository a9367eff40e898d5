"""The model versions a worker serves, by (model, version, instance), and those retiring: an
unloaded instance keeps answering requests already on their way to it (the fronts stop routing
to it only once the new routing table reaches them) until it has been idle for a grace period."""

from __future__ import annotations

import time
from typing import Any

Key = tuple[str, int, int]  # (model, version, instance)
RETIRE_GRACE_S = 0.5  # an unloaded instance keeps serving requests already on their way to it


class ServedVersions:
    def __init__(self) -> None:
        self.loaded: dict[Key, Any] = {}  # -> model_host.LoadedVersion
        self.retiring: dict[Key, tuple[Any, float]] = {}  # -> (loaded, last use)

    def add(self, key: Key, loaded: Any) -> None:
        self.loaded[key] = loaded

    def find(self, key: Key) -> Any | None:
        """A loaded version, or one retiring that still serves requests on their way to it."""
        loaded = self.loaded.get(key)
        if loaded is None:
            retired = self.retiring.get(key)
            if retired is None:
                return None
            loaded = retired[0]
            self.retiring[key] = (loaded, time.monotonic())
        return loaded

    def retire(self, key: Key) -> bool:
        """Start the grace period of ``key``; False: it was not loaded here (unloaded at once)."""
        loaded = self.loaded.pop(key, None)
        if loaded is None:
            return False
        self.retiring[key] = (loaded, time.monotonic())
        return True

    def expired(self) -> list[tuple[Key, Any]]:
        """The retiring versions idle for the grace period, now released."""
        now = time.monotonic()
        done = [(key, loaded) for key, (loaded, last_use) in self.retiring.items() if now - last_use >= RETIRE_GRACE_S]
        for key, _ in done:
            del self.retiring[key]
        return done

    def clear(self) -> None:
        self.loaded.clear()
        self.retiring.clear()
