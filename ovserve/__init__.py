"""ovserve: an OpenVINO model server speaking the OVMS / TensorFlow Serving REST API.

One installed namespace: the repository's top-level ``frontend/``, ``workers/`` and ``shared/``
folders are the subpackages ``ovserve.frontend``, ``ovserve.workers`` and ``ovserve.shared``. An
installed wheel has them inside ``ovserve/`` (pyproject's package-dir); run from a checkout, they
are found beside this folder.
"""

import os as _os

__version__ = "0.1.0"

_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "shared")) and _os.path.isfile(
    _os.path.join(_checkout, "shared", "__init__.py")
):
    __path__.append(_checkout)  # a checkout: ovserve.shared is <checkout>/shared
