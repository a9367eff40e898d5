"""Loads ``--cpu_extension`` into a throw-away OpenVINO core, in its own process, before any
worker starts: a library that fails to load stops the start once, with OVMS's text, instead of
failing every worker (a broken library may even crash the process that loads it).

    python -m ovserve.workers.extension_probe LIBRARY
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    path = (sys.argv[1:] if argv is None else argv)[0]
    import openvino as ov

    try:
        ov.Core().add_extension(path)
    except Exception as exc:  # OpenVINO raises RuntimeError and others
        print(f"Custom CPU extension loading has failed! Reason: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
