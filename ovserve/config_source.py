"""The config file as the supervisor reads it on a reload: applied when its content changed
(MD5, as OVMS) or when the last one failed (a model whose folder appears later is then served;
its problems are logged once, not at every retry); a file caught mid-write is read again, up to
3 times 10 ms apart, before it counts as invalid."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass

from ovserve.shared import errors as E
from ovserve.shared.config_file import ParsedConfig, SchemaError, parse_config

log = logging.getLogger("ovserve.supervisor")
READ_ATTEMPTS = 3


@dataclass(slots=True)
class ConfigRead:
    parsed: ParsedConfig | None  # what to apply; None: nothing (unchanged, unreadable, invalid)
    error: E.Status | None = None  # what the reload answers; may come with a partly valid config
    retry: bool = False  # the same content again, after it failed


class ConfigSource:
    def __init__(self, path: str) -> None:
        self.path = path
        self.digest: bytes | None = None  # of the content last applied or rejected
        self.failed = False  # the last content was invalid, or some of its models were
        self.reported: list[str] = []  # the problems last logged: a retry logs only new ones

    def _raw(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def read(self) -> ConfigRead:
        try:
            raw = self._raw()
        except OSError as exc:
            log.error("config file %s: %s", self.path, exc)
            return ConfigRead(None, E.CONFIG_FILE_TIMESTAMP_READING_FAILED)
        digest = hashlib.md5(raw).digest()
        if digest == self.digest and not self.failed:
            return ConfigRead(None)
        retry = digest == self.digest
        self.digest = digest
        for attempt in range(READ_ATTEMPTS):
            try:
                parsed = parse_config(raw, os.path.dirname(self.path))
                break
            except SchemaError as exc:
                if attempt + 1 < READ_ATTEMPTS:
                    time.sleep(0.01)
                    with contextlib.suppress(OSError):
                        raw = self._raw()
                    continue
                if not retry:
                    log.error("config file %s rejected: %s", self.path, exc)
                self.failed = True
                return ConfigRead(None, E.answered_with(E.JSON_INVALID.http, E.CONFIG_RELOAD_FAILED))
        self.digest = hashlib.md5(raw).digest()  # of what is applied
        self.failed = bool(parsed.problems)
        problems = [text for _, text in parsed.problems]
        if problems != self.reported:  # a failed file is retried at every poll: logged once per change
            for text in problems:
                log.error("config: %s", text)
        self.reported = problems
        if parsed.problems:
            return ConfigRead(parsed, E.answered_with(parsed.problems[0][0].http, E.CONFIG_RELOAD_FAILED), retry)
        return ConfigRead(parsed, retry=retry)
