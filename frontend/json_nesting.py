"""Tokens -> nested JSON arrays as rapidjson's PrettyWriter lays them out (OVMS, json_tensor.cc).

Two styles: single line (``[[1, 2], [3, 4]]``, TF Serving's row format) and pretty (one element per line,
4-space indent from a given level, the column format). Between two neighbouring elements the text depends
only on how many innermost dimensions close there, so a style is an opening, a closing and a table of
separators indexed by that count. Token rows (large arrays): a byte matrix of [token | separator] rows
minus its zero padding. Token strings (small arrays): joined in Python, cheaper than numpy's per-call cost.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from typing import NamedTuple

import numpy as np


class _Style(NamedTuple):
    opening: str
    closing: str
    separators: tuple[str, ...]  # [r]: r dimensions close between two elements
    table: np.ndarray  # the separators as zero-padded byte rows


def _pad(level: int) -> str:
    return "\n" + "    " * level


@functools.lru_cache(maxsize=64)
def _style(rank: int, level: int | None) -> _Style:
    """``level`` None is single-line; otherwise pretty, the array itself at ``level``."""
    if level is None:
        opening, closing = "[" * rank, "]" * rank
        separators = tuple("]" * r + ", " + "[" * r for r in range(rank))
    else:
        opening = "".join("[" + _pad(level + d + 1) for d in range(rank))
        closing = "".join(_pad(level + d) + "]" for d in reversed(range(rank)))
        separators = tuple(
            "".join(_pad(level + d) + "]" for d in reversed(range(rank - r, rank)))
            + ","
            + _pad(level + rank - r)
            + "".join("[" + _pad(level + d + 1) for d in range(rank - r, rank))
            for r in range(rank)
        )
    table = np.zeros((rank, max(map(len, separators))), np.uint8)
    for r, text in enumerate(separators):
        table[r, : len(text)] = np.frombuffer(text.encode(), np.uint8)
    return _Style(opening, closing, separators, table)


def _strides(shape: tuple[int, ...]) -> list[int]:
    """Element counts of the inner dimensions, innermost first: r of them divide i+1 where r close after i."""
    return list(itertools.accumulate(shape[:0:-1], operator.mul))


def _empty(shape: tuple[int, ...], level: int | None) -> str:
    """An array with no elements (some dimension is 0)."""
    if shape[0] == 0:
        return "[]"
    inner = _empty(shape[1:], None if level is None else level + 1)
    if level is None:
        return "[" + ", ".join([inner] * shape[0]) + "]"
    return "[" + _pad(level + 1) + ("," + _pad(level + 1)).join([inner] * shape[0]) + _pad(level) + "]"


def _joined(texts: list[str], shape: tuple[int, ...], style: _Style) -> bytes:
    inner = shape[-1]
    runs = [style.separators[0].join(texts[i : i + inner]) for i in range(0, len(texts), inner)]
    if len(runs) == 1:
        return (style.opening + runs[0] + style.closing).encode()
    parts = [style.opening, runs[0]]
    outer = _strides(shape)[1:]
    for j, run in enumerate(runs[1:], 1):
        closing = 1
        for stride in outer:
            if (j * inner) % stride:
                break
            closing += 1
        parts += (style.separators[closing], run)
    parts.append(style.closing)
    return "".join(parts).encode()


def _rows(tokens: np.ndarray, shape: tuple[int, ...], style: _Style) -> bytes:
    width = tokens.shape[1]
    rows = np.zeros((tokens.shape[0], width + style.table.shape[1]), np.uint8)
    rows[:, :width] = tokens
    rows[:-1, width:] = style.table[0]
    count = tokens.shape[0]
    for closing, stride in enumerate(_strides(shape), 1):
        rows[stride - 1 : count - 1 : stride, width:] = style.table[closing]
    return b"".join((style.opening.encode(), rows[rows != 0].tobytes(), style.closing.encode()))


def nested(tokens: np.ndarray | list[str], shape: tuple[int, ...], level: int | None) -> bytes:
    """The array of ``shape`` whose row-major elements are ``tokens`` (``json_numbers.tokens``);
    ``level`` None: single line."""
    if not shape:
        return tokens[0].encode() if isinstance(tokens, list) else tokens[0][tokens[0] != 0].tobytes()
    if math.prod(shape) == 0:
        return _empty(shape, level).encode()
    style = _style(len(shape), level)
    if isinstance(tokens, list):
        return _joined(tokens, shape, style)
    return _rows(tokens, shape, style)
