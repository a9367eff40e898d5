"""The command-line parser, built from the option table (``shared.options``), and the table's
range checks. A parse error is a ``UsageError`` (the CLI prints it and exits 64)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ovserve.shared.options import OPTIONS


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"error parsing options: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ovserve",
        description="OpenVINO model server speaking the OVMS / TensorFlow Serving REST API.",
        allow_abbrev=False,
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in OPTIONS:
        group = groups.get(option.group) or groups.setdefault(option.group, p.add_argument_group(option.group))
        if option.kind is None:
            group.add_argument(f"--{option.flag}", action="store_true", help=option.help)
        else:
            group.add_argument(f"--{option.flag}", type=option.kind, default=option.default, help=option.help)
    return p


def check_ranges(values: argparse.Namespace) -> None:
    """Each option's own check, in the table's order: the first that fails is the error."""
    for option in OPTIONS:
        value = getattr(values, option.flag)
        if option.valid is not None and value is not None and not option.valid(value):
            raise UsageError(option.error)
