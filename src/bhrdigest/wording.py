"""Staff-facing English: a count with its noun in the right number ("1 digest", "2 digests")."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, plural unless n is 1 (`plural` when adding an s is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
