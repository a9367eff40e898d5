"""The supervisor's logging: OVMS's level names, to stderr or ``--log_path``."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str, path: str | None = None) -> None:
    py_level = {
        "TRACE": logging.DEBUG,
        "DEBUG": logging.DEBUG,
        "INFO": logging.INFO,
        "WARNING": logging.WARNING,
        "ERROR": logging.ERROR,
    }.get(level, logging.INFO)
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(process)d][%(name)s][%(levelname)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(py_level)
