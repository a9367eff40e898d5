"""Reading ``/metrics`` in tests: the exposition parsed into {(name, labels): value}."""

from __future__ import annotations

import re

import requests

Sample = tuple[str, tuple[tuple[str, str], ...]]
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[Sample, float]:
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in samples, f"duplicate series: {line!r}"
        samples[key] = float(m.group(3))
    return samples


def scrape(url: str) -> dict[Sample, float]:
    r = requests.get(url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    return parse(r.text)


def value(samples: dict[Sample, float], family: str, /, **labels: str) -> float:
    """The one series of ``family`` with exactly these labels."""
    key = (family, tuple(sorted(labels.items())))
    assert key in samples, f"no series {key}"
    return samples[key]


def requests_of(samples: dict[Sample, float], outcome: str, model: str, api: str, method: str, interface: str) -> float:
    labels = {"api": api, "interface": interface, "method": method, "name": model}
    if method not in ("GetModelStatus", "ModelReady"):
        labels["version"] = "1"
    return value(samples, f"ovms_requests_{outcome}", **labels)
