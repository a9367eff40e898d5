"""The command-line parser, built from the option table (``shared.options``), and the table's
range checks. A parse error is a ``UsageError`` (the CLI prints it and exits 64) with OVMS's
words (src/cli_parser.cpp)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ovserve.shared.options import OPTIONS

# cxxopts' spellings of a boolean value
TRUE_WORDS = ("true", "t", "1", "True", "T")
FALSE_WORDS = ("false", "f", "0", "False", "F")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"error parsing options: {message}")


def parse_bool(text: str) -> bool:
    """``--flag=true|false`` (and cxxopts' other spellings)."""
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"Argument '{text}' failed to parse")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ovserve",
        description="OpenVINO model server speaking OVMS 2026.2's APIs: TensorFlow Serving and KServe v2, "
        "REST (--rest_port) and gRPC (--port).",
        allow_abbrev=False,
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in OPTIONS:
        group = groups.get(option.group) or groups.setdefault(option.group, p.add_argument_group(option.group))
        if option.kind is bool:
            group.add_argument(
                f"--{option.flag}", nargs="?", const=True, type=parse_bool, default=option.default, help=option.help
            )
        else:
            group.add_argument(f"--{option.flag}", type=option.kind, default=option.default, help=option.help)
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    """The options; anything not an option is OVMS's "unmatched arguments" error."""
    values, unmatched = build_parser().parse_known_args(argv)
    if unmatched:
        raise UsageError("error parsing options - unmatched arguments: " + "".join(f"{a}, " for a in unmatched))
    return values


def check_ranges(values: argparse.Namespace) -> None:
    """Each option's own check, in the table's order: the first that fails is the error."""
    for option in OPTIONS:
        value = getattr(values, option.flag)
        if option.valid is not None and value is not None and not option.valid(value):
            raise UsageError(option.error)
