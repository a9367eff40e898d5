"""Request bodies as OVMS's rapidjson reads them, for both REST dialects: the nesting limit
(500 past ``--max_json_depth`` levels), a 412 with rapidjson's message and offset for invalid
JSON, and one C-speed scan that tells a decoder what the body can hold."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
from ovserve.frontend.json_syntax import describe_error
from ovserve.shared import errors as E
from ovserve.shared.errors import OvmsError

MAX_DEPTH = 100  # OVMS 2026's limit; --max_json_depth changes it
# One C-speed pass keeps only what the checks below need: brackets (nesting depth), quotes and
# backslashes (are there string values?), and the letters of true/false/null (which numpy would
# silently turn into numbers). Deleting the rest keeps every such token contiguous.
_KEPT = b'[]{}"\\aeflnrstu'
_DROP = bytes(b for b in range(256) if b not in _KEPT)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass(slots=True)
class Scan:
    literals: bool  # may hold true/false/null
    quotes: int
    escapes: bool
    arrays: int


def scan(body: bytes, max_depth: int = MAX_DEPTH) -> Scan:
    """Raise 500 past the depth limit (as OVMS 2026); else what a fast decoder must know."""
    kept = body.translate(None, _DROP)
    brackets = kept.translate(None, _NOT_BRACKETS)
    if len(brackets) > max_depth:
        depth = deepest = 0
        for ch in brackets:
            if ch == 0x5B or ch == 0x7B:
                depth += 1
                if depth > deepest:
                    deepest = depth
            else:
                depth -= 1
        if deepest > max_depth and (b'"' not in kept or _nesting_exact(body, max_depth)):
            raise OvmsError(E.JSON_NESTING_DEPTH_EXCEEDED)
    literals = b"true" in kept or b"false" in kept or b"null" in kept
    return Scan(literals, kept.count(b'"'), b"\\" in kept, brackets.count(b"["))


def _nesting_exact(body: bytes, limit: int) -> bool:
    """Depth outside strings: only for bodies whose strings might hold brackets."""
    depth, in_string, escaped = 0, False, False
    for ch in body:
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:
                escaped = True
            elif ch == 0x22:
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif ch in (0x5D, 0x7D):
            depth -= 1
    return False


def load_json(body: bytes | memoryview) -> Any:
    """Parse a body as OVMS does: 412 with rapidjson's message (the depth is checked first)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    data = bytes(body)
    found = describe_error(data)
    if found is None:
        # valid for rapidjson but not for orjson: integers past 64 bits, or bad UTF-8
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            found = ("Invalid encoding in string.", 0)
    message, offset = found
    raise OvmsError(E.JSON_INVALID, f"Error: {message} Offset: {offset}")
