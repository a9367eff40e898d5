"""The model cache folder as OVMS picks it (src/modelmanager.cpp): ``--cache_dir``, else
``/opt/cache`` when it exists; created when missing, and a warning when it cannot be written."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("ovserve.supervisor")
DEFAULT_CACHE_DIR = "/opt/cache"


def model_cache_dir(flag: str | None) -> str | None:
    """The folder the workers give OpenVINO as CACHE_DIR; None: no cache."""
    folder = flag or (DEFAULT_CACHE_DIR if os.path.exists(DEFAULT_CACHE_DIR) else None)
    if not folder:
        return None
    if not os.path.exists(folder):
        try:
            os.makedirs(folder)
            log.warning("Cache directory %s did not exist, created", folder)
        except OSError as exc:
            log.warning("Cache directory %s cannot be created: %s", folder, exc.strerror)
    if os.access(folder, os.W_OK):
        log.info("Model cache is enabled: %s", folder)
    else:
        log.warning("Cache directory %s is not writable", folder)
    return folder
