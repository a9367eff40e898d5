"""Arrays -> JSON number tokens by TF Serving's decimal rule (json_tensor.cc), without a Python float per
element for arrays of ``SMALL`` elements or more.

The rule per float: ``%g``; if that text does not read back (as a double, then cast to the element type) as
the same value, ``%.9g`` for float32 / ``%.17g`` for float64; ``.0`` appended when the text has neither ``.``
nor ``e``; NaN/Infinity as bare tokens. ``texts`` is that rule value by value; the array path below
must give the same bytes (tests compare the two on random bit patterns).

The array path works out each element's significant digits as an integer (6 or 9 digits, from float64
arithmetic that is exact where it decides anything) and its decimal exponent; the text's *shape* (sign,
style, exponent, digit count) then picks a precomputed template that says which digit or constant
character goes at each output position. One gather fills a fixed-width byte row per element (zero padded).
Elements the float64 arithmetic cannot settle exactly (a float32 whose 9-digit rounding is within 1e-6 of a
tie; a subnormal; a float64 that needs 17 digits or lies outside 1e-17..1e28) go through ``texts``.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import numpy as np
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError

_INT_KINDS = frozenset({"int8", "uint8", "int16", "int32", "int64"})
_UNSUPPORTED_400 = frozenset({"uint16", "float16"})
# dtype.name is computed in Python by numpy on every access (2% of a front's samples): look it up
_DTYPE_NAMES = {
    np.dtype(n): n for n in ("float32", "float64", *_INT_KINDS, *_UNSUPPORTED_400, "uint32", "uint64", "bool")
}

# Pool columns: an element's digits (most significant first), then these constants; 0 pads a row.
_CONST = b"\x00-.e+0123456789NaIfinity"
_F32_DIGITS = 9
_F32_WIDTH = 16
_X_STRIDE = _F32_DIGITS + 1  # template rows per decimal exponent (digit counts 0..9)
_INT_DIGITS = 20
SMALL = 64
_SPECIALS = ("NaN", "Infinity", "-Infinity", "0.0", "-0.0")


_INF = float("inf")


@functools.lru_cache(maxsize=256)
def _formats(count: int, spec: str) -> str:
    return ",".join([spec] * count)


@functools.lru_cache(maxsize=256)
def _f32s(count: int) -> struct.Struct:
    return struct.Struct(f"{count}f")


def texts(values: list[float], single: bool) -> list[str]:
    """Each value's token: the rule itself, for small arrays and the values the array path leaves.
    Each format runs once over all the values (one C call, not one per value)."""
    count = len(values)
    if not count:
        return []
    given = tuple(values)
    shortest = (_formats(count, "%g") % given).split(",")
    back: tuple[float, ...] | list[float] = list(map(float, shortest))  # 'inf' and 'nan' read back too
    if single:  # read back as a double, then cast to float32
        f32 = _f32s(count)
        back = f32.unpack(f32.pack(*back))
    out = []
    longer = None
    for i, text in enumerate(shortest):
        value = given[i]
        if back[i] != value:
            if value != value:
                out.append("NaN")
                continue
            if longer is None:
                longer = (_formats(count, "%.9g" if single else "%.17g") % given).split(",")
            text = longer[i]
        elif value == _INF or value == -_INF:
            out.append("Infinity" if value > 0 else "-Infinity")
            continue
        if "." not in text and "e" not in text:
            text += ".0"
        out.append(text)
    return out


def _row(chars: list[int | str], digits: int, width: int) -> list[int]:
    """Template row: ints are digit columns, strings constant characters."""
    cols = [c if isinstance(c, int) else digits + _CONST.index(c.encode()) for c in chars]
    return cols + [digits] * (width - len(cols))


def _float_chars(sign: int, precision: int, x: int, count: int) -> list[int | str]:
    """``%.<precision>g`` of a value with ``count`` significant digits and decimal exponent ``x``."""
    chars: list[int | str] = ["-"] if sign else []
    if x < -4 or x >= precision:
        chars.append(0)
        if count > 1:
            chars += [".", *range(1, count)]
        chars += ["e", "-" if x < 0 else "+", *f"{abs(x):02d}"]
    elif x >= 0:
        chars += [*range(x + 1), "."]
        chars += list(range(x + 1, count)) if count > x + 1 else ["0"]
    else:
        chars += ["0", ".", *"0" * (-x - 1), *range(count)]
    return chars


@dataclass(frozen=True)
class _FloatKind:
    """Bit layout of one float type and the token templates for its exactly handled exponents."""

    unsigned: type[np.unsignedinteger]
    magnitude_mask: int
    min_normal: int
    inf_bits: int
    x_min: int  # decimal exponents handled by the array path
    x_max: int

    @functools.cached_property
    def templates(self) -> np.ndarray:
        """Row ``key(sign, p9, x, count)``; the specials follow at ``special_base``."""
        rows = []
        for sign in (0, 1):
            for precision in (6, 9):
                for x in range(self.x_min, self.x_max + 1):
                    rows.append(_row([], _F32_DIGITS, _F32_WIDTH))  # count 0 never occurs
                    for count in range(1, _F32_DIGITS + 1):
                        rows.append(_row(_float_chars(sign, precision, x, count), _F32_DIGITS, _F32_WIDTH))
        rows += [_row(list(text), _F32_DIGITS, _F32_WIDTH) for text in _SPECIALS]
        return np.array(rows, np.intp)

    @property
    def p9_stride(self) -> int:
        return (self.x_max - self.x_min + 1) * _X_STRIDE

    @property
    def special_base(self) -> int:
        return 4 * self.p9_stride


_EXACT_POWERS = 22  # 10**k is exact in float64 for |k| <= 22
_FLOATS = {
    # float32: every normal value; its 6-digit text may need a power of ten beyond 1e22 (checked below)
    np.dtype(np.float32): _FloatKind(np.uint32, 0x7FFFFFFF, 0x00800000, 0x7F800000, -38, 39),
    # float64: values whose 6-digit text reads back exactly with one rounding (1e-17 .. 1e28)
    np.dtype(np.float64): _FloatKind(
        np.uint64, 0x7FFFFFFFFFFFFFFF, 0x0010000000000000, 0x7FF0000000000000, 5 - _EXACT_POWERS, 5 + _EXACT_POWERS
    ),
}


@functools.cache
def _int_templates() -> np.ndarray:
    digits, width = _INT_DIGITS, _INT_DIGITS + 1
    rows = [_row([], digits, width)]
    for sign in (0, 1):
        for count in range(1, digits + 1):
            rows.append(_row((["-"] if sign else []) + list(range(digits - count, digits)), digits, width))
    return np.array(rows, np.intp)


def _pow10(lo: int, hi: int) -> np.ndarray:
    return np.array([float(f"1e{k}") for k in range(lo, hi + 1)])


def _digit_table(width: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded digit characters of 0 .. 10**width-1, and how many trailing zeros each has."""
    values = np.arange(10**width)
    chars = np.empty((values.size, width), np.uint8)
    trailing = np.zeros(values.size, np.intp)
    open_run = np.ones(values.size, bool)
    for col in range(width - 1, -1, -1):
        digit = values // 10 ** (width - 1 - col) % 10
        chars[:, col] = digit + 48
        open_run &= digit == 0
        trailing += open_run
    return chars, trailing


_EXP_LIMIT = 340
_TEN = _pow10(-_EXP_LIMIT, _EXP_LIMIT)
# a multiply or a divide by an exact power of ten: one rounding where |k| <= 22
_MUL = np.where(np.arange(-_EXP_LIMIT, _EXP_LIMIT + 1) >= 0, _TEN, 1.0)
_DIV = np.where(np.arange(-_EXP_LIMIT, _EXP_LIMIT + 1) < 0, _TEN[::-1], 1.0)
_INT_POWERS = 10 ** np.arange(_INT_DIGITS, dtype=np.uint64)
_HIGH_CHARS, _HIGH_ZEROS = _digit_table(4)
_LOW_CHARS, _LOW_ZEROS = _digit_table(5)
_CONST_ROW = np.frombuffer(_CONST, np.uint8)


def _scale(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """values * 10**k."""
    idx = k + _EXP_LIMIT
    return values * _MUL[idx] / _DIV[idx]


def _with_carry(n: np.ndarray, x: np.ndarray, precision: int) -> tuple[np.ndarray, np.ndarray]:
    """A rounding to ``precision`` digits that reached 10**precision moves the exponent up."""
    carry = n >= _TEN[_EXP_LIMIT + precision]
    if carry.any():
        return np.where(carry, _TEN[_EXP_LIMIT + precision - 1], n), x + carry
    return n, x


def _assemble(digits: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Token bytes: each element's digit characters (blocks side by side) and the constants, picked by its row."""
    count = rows.shape[0]
    at = sum(block.shape[1] for block in digits)
    width = at + len(_CONST)
    pool = np.empty((count, width), np.uint8)
    start = 0
    for block in digits:
        pool[:, start : start + block.shape[1]] = block
        start += block.shape[1]
    pool[:, at:] = _CONST_ROW
    rows += np.arange(0, count * width, width)[:, None]
    return pool.ravel().take(rows)


def _float_tokens(flat: np.ndarray) -> np.ndarray:
    kind = _FLOATS[flat.dtype]
    single = flat.dtype == np.float32
    # Classify on the bits: no float operation sees a NaN (a signalling one would raise FE_INVALID).
    bits = flat.view(kind.unsigned)
    sign = (bits > kind.magnitude_mask).astype(np.intp)
    magnitude = bits & kind.unsigned(kind.magnitude_mask)
    normal = magnitude - kind.unsigned(kind.min_normal) < kind.inf_bits - kind.min_normal
    all_normal = bool(normal.all())
    usable = magnitude if all_normal else np.where(normal, magnitude, kind.unsigned(kind.min_normal))
    a = usable.view(flat.dtype).astype(np.float64)
    x = np.floor(np.log10(a)).astype(np.intp)
    if not single:  # log10 may land on the next integer for a double just below a power of ten
        x -= a < _TEN[x + _EXP_LIMIT]
        normal &= (x >= kind.x_min) & (x <= kind.x_max)  # beyond: read-back not exact here, and no template
        x = np.clip(x, kind.x_min, kind.x_max)

    scaled = _scale(a, 8 - x)  # the value with 9 digits before the point
    n9, x9 = _with_carry(np.rint(scaled), x, 9)
    n6, x6 = _with_carry(np.rint(scaled / 1000), x, 6)
    back = _scale(n6, x6 - 5)
    short = back.astype(flat.dtype) == a  # the %g text reads back (json_tensor.cc)
    far = np.abs(x6 - 5) > _EXACT_POWERS
    if single:
        # the 9-digit rounding is exact unless within float64 error of a tie
        exact = normal & (short | (np.abs(scaled - np.rint(scaled)) < 0.5 - 1e-6))
        if far.any():  # the read-back rounded twice there: trust it away from float32 rounding boundaries
            exact &= ~far | ((back * (1 - 4e-16)).astype(np.float32) == (back * (1 + 4e-16)).astype(np.float32))
        n = np.where(short, n6 * 1000, n9)
        x = np.where(short, x6, x9)
    else:
        exact = normal & short & ~far
        n, x = n6 * 1000, x6
    n = np.where(exact, n, 0).astype(np.int64)
    high = n // 100000
    low = n - high * 100000
    count = _F32_DIGITS - np.where(low == 0, 5 + _HIGH_ZEROS.take(high), _LOW_ZEROS.take(low))
    key = sign * (2 * kind.p9_stride) + (~short) * kind.p9_stride + (x - kind.x_min) * _X_STRIDE + count
    fallback = None
    if not all_normal or not exact.all():
        nan, inf, zero = magnitude > kind.inf_bits, magnitude == kind.inf_bits, magnitude == 0
        special = np.where(nan, 0, np.where(inf, 1 + sign, 3 + sign)) + kind.special_base
        key = np.where(exact, key, special)  # subnormals and inexact values get a row, then their text
        fallback = np.flatnonzero(~exact & ~nan & ~inf & ~zero)
    tokens = _assemble([_HIGH_CHARS.take(high, 0), _LOW_CHARS.take(low, 0)], kind.templates.take(key, 0))
    if fallback is not None and fallback.size:
        tokens = _overwrite(tokens, fallback, texts(flat[fallback].tolist(), single))
    return tokens


def _overwrite(tokens: np.ndarray, rows: np.ndarray, replacements: list[str]) -> np.ndarray:
    width = max(tokens.shape[1], max(map(len, replacements)))
    if width > tokens.shape[1]:
        tokens = np.pad(tokens, ((0, 0), (0, width - tokens.shape[1])))
    for i, text in zip(rows, replacements, strict=True):
        tokens[i] = 0
        tokens[i, : len(text)] = np.frombuffer(text.encode(), np.uint8)
    return tokens


def _int_tokens(flat: np.ndarray) -> np.ndarray:
    values = flat.astype(np.int64)
    negative = values < 0
    magnitude = np.where(negative, (~values).astype(np.uint64) + np.uint64(1), values.astype(np.uint64))
    count = np.maximum(np.searchsorted(_INT_POWERS, magnitude, side="right"), 1)
    blocks = [magnitude // _INT_POWERS[k] % np.uint64(100000) for k in (15, 10, 5, 0)]
    key = negative * _INT_DIGITS + count
    return _assemble([_LOW_CHARS.take(block, 0) for block in blocks], _int_templates().take(key, 0))


def tokens(array: np.ndarray) -> np.ndarray | list[str]:
    """Each element's token in row-major order: (elements, width) uint8 rows, left-aligned and zero padded;
    for arrays under ``SMALL`` elements a list of strings (numpy's ~40 calls cost more than their texts)."""
    name = _DTYPE_NAMES.get(array.dtype) or array.dtype.name
    flat = array.reshape(-1)
    small = flat.size < SMALL
    if name in ("float32", "float64"):
        if small:
            return texts(flat.tolist(), name == "float32")
        return _float_tokens(flat)
    if name in _INT_KINDS:
        return list(map(str, flat.tolist())) if small else _int_tokens(flat)
    if name in _UNSUPPORTED_400:
        raise OvmsError(E.REST_UNSUPPORTED_PRECISION)
    raise OvmsError(E.UNSUPPORTED_SERIALIZATION_PRECISION)
