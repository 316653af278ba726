"""Spreadsheet formula injection (OWASP "CSV injection", CWE-1236): neutralise a text cell.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` (and, in some, a tab or carriage return before one) as a formula. A cell
written by this tool that echoes input gets a ``'`` in front, as OWASP
recommends, so it opens as text; values from the API and valid keys are never
changed. Reading such a file back (``--errors`` as INPUT, ``--resume``) undoes
it, so a value shows as it was read. The output and input layers both use these
two functions, which is why they live in the lowest layer.

A value that is read back (an invalid row's ID) is neutralised ``reversible``:
one that already looks neutralised (``'=1`` read from an input) then gets one
more ``'``, so that `original` always gives the value as it was read. Other
cells (messages, which quote values as ``'…'``) only get the OWASP prefix.
"""

from __future__ import annotations

import re

__all__ = ["FORMULA_PREFIXES", "neutralise", "original"]

#: OWASP's list of characters a formula cell may start with.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTE = re.compile("'*[" + re.escape("".join(FORMULA_PREFIXES)) + "]")


def neutralise(text: str, *, reversible: bool = False) -> str:
    """``text`` with a ``'`` in front if a spreadsheet could take it for a formula."""
    if text.startswith(FORMULA_PREFIXES) or (reversible and _NEEDS_QUOTE.match(text)):
        return "'" + text
    return text


def original(text: str) -> str | None:
    """The value ``neutralise(..., reversible=True)`` made ``text`` from, or None if unchanged."""
    if text.startswith("'") and _NEEDS_QUOTE.match(text, 1):
        return text[1:]
    return None
