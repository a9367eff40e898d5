"""rapidjson's error message and byte offset for an invalid JSON document.

Only used on the error path (orjson has already rejected the body), so that a 412 carries the
same ``Error: <message> Offset: <n>`` text OVMS gives. Emulates rapidjson's default flags:
no NaN/Infinity, no comments, no trailing commas, no UTF-8 validation, NUL ends the input.
"""

from __future__ import annotations

import re

EMPTY = "The document is empty."
ROOT_NOT_SINGULAR = "The document root must not be followed by other values."
VALUE_INVALID = "Invalid value."
OBJECT_MISS_NAME = "Missing a name for object member."
OBJECT_MISS_COLON = "Missing a colon after a name of object member."
OBJECT_MISS_COMMA = "Missing a comma or '}' after an object member."
ARRAY_MISS_COMMA = "Missing a comma or ']' after an array element."
STRING_BAD_HEX = "Incorrect hex digit after \\u escape in string."
STRING_BAD_SURROGATE = "The surrogate pair in string is invalid."
STRING_BAD_ESCAPE = "Invalid escape character in string."
STRING_MISS_QUOTE = "Missing a closing quotation mark in string."
STRING_BAD_ENCODING = "Invalid encoding in string."
NUMBER_TOO_BIG = "Number too big to be stored in double."
NUMBER_MISS_FRACTION = "Miss fraction part in number."
NUMBER_MISS_EXPONENT = "Miss exponent in number."

_WS = re.compile(rb"[ \t\n\r]*")
_PLAIN = re.compile(rb'[^"\\\x00-\x1f]*')
_DIGITS = re.compile(rb"[0-9]*")
_HEX = b"0123456789abcdefABCDEF"


class _Fail(Exception):
    def __init__(self, message: str, offset: int) -> None:
        self.message, self.offset = message, offset


class _Scanner:
    def __init__(self, data: bytes) -> None:
        nul = data.find(b"\x00")
        self.s = data if nul < 0 else data[:nul]
        self.n = len(self.s)

    def peek(self, i: int) -> int:
        return self.s[i] if i < self.n else 0

    def ws(self, i: int) -> int:
        return _WS.match(self.s, i).end()  # type: ignore[union-attr]

    def literal(self, i: int, word: bytes) -> int:
        j = i + 1
        for ch in word[1:]:
            if self.peek(j) != ch:
                raise _Fail(VALUE_INVALID, j)
            j += 1
        return j

    def string(self, i: int) -> int:
        j = i + 1
        while True:
            j = _PLAIN.match(self.s, j).end()  # type: ignore[union-attr]
            c = self.peek(j)
            if c == 0x22:
                return j + 1
            if c == 0x5C:
                escape_at = j
                e = self.peek(j + 1)
                if e in b'"\\/bfnrt' and e != 0:
                    j += 2
                elif e == 0x75:
                    code = self._hex4(j + 2, escape_at)
                    j += 6
                    if 0xD800 <= code <= 0xDBFF:
                        if self.peek(j) != 0x5C or self.peek(j + 1) != 0x75:
                            raise _Fail(STRING_BAD_SURROGATE, escape_at)
                        low = self._hex4(j + 2, escape_at)
                        if not 0xDC00 <= low <= 0xDFFF:
                            raise _Fail(STRING_BAD_SURROGATE, escape_at)
                        j += 6
                else:
                    raise _Fail(STRING_BAD_ESCAPE, escape_at)
            elif j >= self.n:
                raise _Fail(STRING_MISS_QUOTE, j)
            else:
                raise _Fail(STRING_BAD_ENCODING, j)

    def _hex4(self, j: int, escape_at: int) -> int:
        chunk = self.s[j : j + 4]
        if len(chunk) < 4 or any(b not in _HEX for b in chunk):
            raise _Fail(STRING_BAD_HEX, escape_at)
        return int(chunk, 16)

    def number(self, i: int) -> int:
        j = i
        if self.peek(j) == 0x2D:
            j += 1
        c = self.peek(j)
        if c == 0x30:
            j += 1
        elif 0x31 <= c <= 0x39:
            j = _DIGITS.match(self.s, j + 1).end()  # type: ignore[union-attr]
        else:
            raise _Fail(VALUE_INVALID, j)
        if self.peek(j) == 0x2E:
            j += 1
            if not 0x30 <= self.peek(j) <= 0x39:
                raise _Fail(NUMBER_MISS_FRACTION, j)
            j = _DIGITS.match(self.s, j).end()  # type: ignore[union-attr]
        if self.peek(j) in (0x65, 0x45):
            j += 1
            if self.peek(j) in (0x2B, 0x2D):
                j += 1
            if not 0x30 <= self.peek(j) <= 0x39:
                raise _Fail(NUMBER_MISS_EXPONENT, j)
            j = _DIGITS.match(self.s, j).end()  # type: ignore[union-attr]
        if float(self.s[i:j]) in (float("inf"), float("-inf")):
            raise _Fail(NUMBER_TOO_BIG, i)
        return j

    def value(self, i: int) -> int:
        """Iterative over containers so deep documents do not hit Python's recursion limit."""
        stack: list[int] = []  # 0x5B array, 0x7B object
        while True:
            c = self.peek(i)
            if c == 0x7B:
                i = self.ws(i + 1)
                if self.peek(i) == 0x7D:
                    i += 1
                else:
                    stack.append(0x7B)
                    i = self._member_name(i)
                    continue
            elif c == 0x5B:
                i = self.ws(i + 1)
                if self.peek(i) == 0x5D:
                    i += 1
                else:
                    stack.append(0x5B)
                    continue
            elif c == 0x22:
                i = self.string(i)
            elif c == 0x6E:
                i = self.literal(i, b"null")
            elif c == 0x74:
                i = self.literal(i, b"true")
            elif c == 0x66:
                i = self.literal(i, b"false")
            else:
                i = self.number(i)
            # after a value: close containers or move to the next element
            while stack:
                i = self.ws(i)
                c = self.peek(i)
                top = stack[-1]
                if c == 0x2C:
                    i = self.ws(i + 1)
                    if top == 0x7B:
                        i = self._member_name(i)
                    break
                if (top == 0x5B and c == 0x5D) or (top == 0x7B and c == 0x7D):
                    stack.pop()
                    i += 1
                    continue
                raise _Fail(ARRAY_MISS_COMMA if top == 0x5B else OBJECT_MISS_COMMA, i)
            else:
                return i

    def _member_name(self, i: int) -> int:
        if self.peek(i) != 0x22:
            raise _Fail(OBJECT_MISS_NAME, i)
        i = self.ws(self.string(i))
        if self.peek(i) != 0x3A:
            raise _Fail(OBJECT_MISS_COLON, i)
        return self.ws(i + 1)


def describe_error(data: bytes) -> tuple[str, int] | None:
    """(message, offset) of the first syntax error as rapidjson reports it; None if valid."""
    sc = _Scanner(data)
    try:
        i = sc.ws(0)
        if i >= sc.n:
            return EMPTY, i
        i = sc.ws(sc.value(i))
        if i < sc.n:
            return ROOT_NOT_SINGULAR, i
    except _Fail as fail:
        return fail.message, fail.offset
    return None
