"""Counting the lines of a byte stream, a last line without its newline included."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["count_lines"]


def count_lines(chunks: Iterable[bytes]) -> int:
    """Lines in the concatenation of ``chunks``: each newline ends one, and a non-empty
    rest after the last newline (a file whose last line has none) is one more."""
    lines, last = 0, b"\n"
    for chunk in chunks:
        if chunk:
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")
