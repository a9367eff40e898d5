"""ovserve: an OpenVINO model server speaking the OVMS / TensorFlow Serving REST API.

One installed namespace: the repository's top-level ``frontend/``, ``workers/`` and ``shared/``
folders are the subpackages ``ovserve.frontend``, ``ovserve.workers`` and ``ovserve.shared``. An
installed wheel has them inside ``ovserve/`` (pyproject's package-dir); run from a checkout, a
finder maps exactly those three names to the folders beside this one (nothing else of the
checkout, such as ``tests`` or ``bench``, becomes part of the package).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os as _os
import sys as _sys
from collections.abc import Sequence
from types import ModuleType

__version__ = "0.1.0"

ROLE_FOLDERS = ("frontend", "workers", "shared")


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    """``ovserve.<folder>`` for the three role folders of a checkout; their submodules then
    resolve through the package's own ``__path__``."""

    def __init__(self, checkout: str) -> None:
        self.folders = {f"{__name__}.{name}": _os.path.join(checkout, name) for name in ROLE_FOLDERS}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        init = _os.path.join(folder, "__init__.py")
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[folder])


_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "shared")) and _os.path.isfile(
    _os.path.join(_checkout, "shared", "__init__.py")
):
    _sys.meta_path.insert(0, _CheckoutFinder(_checkout))
