"""Log wording: counts with the noun in the right number ("1 worker", "2 workers")."""

from __future__ import annotations


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
