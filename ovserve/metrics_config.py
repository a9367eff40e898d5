"""Which metric families the server serves, decided once at start as OVMS does: the config
file's ``monitoring`` section when it has one, else ``--metrics_enable`` / ``--metrics_list``."""

from __future__ import annotations

import json
from typing import Any

from ovserve.shared.metrics_layout import MetricsConfigError, enabled_families


def _monitoring(config_path: str | None) -> dict[str, Any] | None:
    """The config file's metrics object, or None (no file, no section, or a file the
    supervisor will report as invalid in its own way)."""
    if not config_path:
        return None
    try:
        with open(config_path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    monitoring = doc.get("monitoring") if isinstance(doc, dict) else None
    metrics = monitoring.get("metrics") if isinstance(monitoring, dict) else None
    return metrics if isinstance(metrics, dict) else None


def metric_families(enable: bool, metrics_list: str, config_path: str | None) -> tuple[str, ...]:
    """The served families (empty: metrics off); ``MetricsConfigError`` with OVMS's text."""
    metrics = _monitoring(config_path)
    if metrics is None:
        listed = [n for n in metrics_list.split(",")] if metrics_list else None
        return enabled_families(enable, listed)
    listed_json = metrics.get("metrics_list")
    if listed_json is not None and (
        not isinstance(listed_json, list) or not all(isinstance(n, str) for n in listed_json)
    ):
        raise MetricsConfigError("monitoring.metrics.metrics_list must be an array of strings")
    return enabled_families(metrics.get("enable") is True, listed_json)
