"""Reading a header: which delimiter separates it, and which column holds the ID.

The delimiter is decided from the header line alone: the one candidate (`,` `;` tab `|`) found
outside quotes; none found means a one-column file (`,`). When several are found, the one that
splits the header so that the ID column is found wins; otherwise the message names them.

The ID column is an exact match of the ID field first; otherwise the single column equal to it
ignoring case, spaces, `_` and `-` (`Profile ID`, `profileId`, `PROFILE_ID`); two such columns
are refused (both named), and when none matches the message proposes the closest.
"""

from __future__ import annotations

import csv
import difflib
import re
import shlex
from dataclasses import dataclass

from batch.engine import InputError

__all__ = [
    "CANDIDATES",
    "IdColumn",
    "clean_names",
    "detect_delimiter",
    "find_id_column",
    "keep_columns",
    "show_delimiter",
]

CANDIDATES = ",;\t|"
_QUOTED = re.compile(r'"[^"]*"?')
_LOOSE = str.maketrans("", "", " _-\t")


@dataclass(frozen=True, slots=True)
class IdColumn:
    """The column that holds the ID: its index, its name, and whether it matched loosely."""

    index: int
    name: str
    loose: bool


def show_delimiter(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _loose(name: str) -> str:
    return name.lower().translate(_LOOSE)


def clean_names(fields: list[str]) -> list[str]:
    return [name.strip(" \t\ufeff") for name in fields]


def find_id_column(
    names: list[str], id_field: str, label: str, *, what: str = "column", missing_hint: str = ""
) -> IdColumn:
    """The ID column among `names` (already stripped), or an InputError saying what to pass;
    `missing_hint` ends the message when no column matches at all."""
    if id_field in names:
        return IdColumn(names.index(id_field), id_field, loose=False)
    want = _loose(id_field)
    matches = [i for i, name in enumerate(names) if _loose(name) == want]
    if len(matches) == 1:
        return IdColumn(matches[0], names[matches[0]], loose=True)
    if matches:
        both = " and ".join(_show(names[i]) for i in matches)
        raise InputError(
            f"{label} has {len(matches)} {what}s that could be '{id_field}': {both}; "
            f"pass --id-field with the one to use"
        )
    shown = ", ".join(_show(name) for name in names[:20])
    if len(names) > 20:
        shown += f", … ({len(names) - 20} more)"
    close = difflib.get_close_matches(want, [_loose(name) for name in names], n=1, cutoff=0.6)
    hint = ""
    if close:
        name = next(name for name in names if _loose(name) == close[0])
        hint = f"; pass --id-field {shlex.quote(name)} if that is it"
    raise InputError(
        f"{label} has no '{id_field}' {what}; {what}s found: {shown}{hint}{missing_hint}"
    )


def _show(name: str) -> str:
    if not name:
        return '""'
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 40 else shown[:39] + "…"


def detect_delimiter(header: str, id_field: str, label: str) -> str:
    """The delimiter of a CSV whose header line (its first physical line) is `header`."""
    outside = _QUOTED.sub("", header)
    found = [d for d in CANDIDATES if d in outside]
    if len(found) <= 1:
        return found[0] if found else ","
    fits = []
    for delimiter in found:
        names = clean_names(next(csv.reader([header], delimiter=delimiter), []))
        try:
            find_id_column(names, id_field, label)
        except InputError:
            continue
        fits.append(delimiter)
    if len(fits) == 1:
        return fits[0]
    shown = " and ".join(show_delimiter(d) for d in found)
    example = "tab" if found[0] == "\t" else shlex.quote(found[0])
    raise InputError(
        f"cannot tell how the columns of {label} are separated: its header holds {shown}; "
        f"pass --delimiter with the right one (e.g. --delimiter {example})"
    )


def keep_columns(names: list[str], keep: tuple[str, ...], label: str) -> dict[str, int] | None:
    """The columns --keep-columns names (name: index), or an InputError naming a missing one."""
    missing = [name for name in keep if name not in names]
    if missing:
        shown = ", ".join(_show(name) for name in names[:20])
        raise InputError(
            f"--keep-columns: {label} has no '{missing[0]}' column; columns found: {shown}"
        )
    return {name: names.index(name) for name in keep} or None
