"""Nothing leaves the machine uninvited. ``import openvino`` imports its model-conversion tools
(``openvino.tools.ovc``, for ``openvino.convert_model``), whose import sends a usage event
(``openvino_telemetry``: a consent folder in the home directory, a DNS lookup and a post to Google
Analytics; with no consent file it counts as consent). OpenVINO imports those tools inside
``try: ... except ImportError``; marking the module as absent makes that import fail, so the
event is never sent. ovserve never converts models (it reads them with ``Core.read_model``)."""

from __future__ import annotations

import sys

CONVERSION_TOOLS = "openvino.tools.ovc"


def keep_openvino_quiet() -> None:
    """Call before the process first imports openvino (a no-op once the tools are imported)."""
    sys.modules.setdefault(CONVERSION_TOOLS, None)  # type: ignore[arg-type]  # None: "not importable"
