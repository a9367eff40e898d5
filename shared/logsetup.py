"""One logging setup for every process (supervisor, HTTP and gRPC fronts, workers), so that a
line looks the same wherever it was written and ``--log_path`` holds them all.

OVMS's layout (src/logging.cpp: spdlog pattern ``[%Y-%m-%d %T.%e][%t][%n][%l][%s:%#] %v``, a
stdout sink, plus an appending file sink when ``--log_path`` is set): ``%t`` is the pid here (a
process is ovserve's unit of work, as a thread is OVMS's) and ``%n``, the logger name, is the
process role (``serving`` for the supervisor, ``front0``, ``grpc_front1``, ``worker0``), so a
reader of one file sees who wrote each line. Each process opens the file in append mode: a line
is one write, so lines of several processes never interleave.
"""

from __future__ import annotations

import logging
import sys
import time

# OVMS's --log_level names; TRACE has no Python level and logs as DEBUG
LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}
# spdlog's level names, as %l writes them
_SPDLOG_LEVEL = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}
SUPERVISOR_ROLE = "serving"  # OVMS's default logger name


class OvmsFormatter(logging.Formatter):
    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        level = _SPDLOG_LEVEL.get(record.levelno, record.levelname.lower())
        head = f"[{stamp}.{int(record.msecs):03d}][{record.process}][{self.role}][{level}]"
        text = f"{head}[{record.filename}:{record.lineno}] {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


def setup_logging(role: str, level: str = "INFO", path: str | None = None) -> None:
    """Log this process's lines as ``role``, at OVMS's ``level``, to stdout and to ``path``."""
    formatter = OvmsFormatter(role)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if path:
        handlers.append(logging.FileHandler(path, mode="a", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(LEVELS.get(level, logging.INFO))
