"""Reading a header: which delimiter separates it, and which column holds the ID.

The delimiter is decided from the header line alone (`batch.input._header`): the candidates
(`,` `;` tab `|`) found outside quotes; none found means a one-column file (`,`). When
several are found, the one that splits the header so that the ID column is found wins;
otherwise the message names them.

The ID column is an exact match of the ID field first; otherwise the single column equal to it
ignoring case, spaces, `_` and `-` (`Record ID`, `recordId`, `RECORD_ID`); two such columns
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
    "ambiguous_delimiters",
    "clean_names",
    "delimiters_in",
    "find_id_column",
    "id_matches",
    "keep_columns",
    "show_delimiter",
    "split_line",
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


def id_matches(names: list[str], id_field: str) -> int:
    """How many of `names` could be the ID column: 1 for an exact match, else the loose ones."""
    if id_field in names:
        return 1
    want = _loose(id_field)
    return sum(1 for name in names if _loose(name) == want)


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


def delimiters_in(line: str) -> str:
    """The candidate delimiters found outside quotes in a CSV line, in `CANDIDATES` order."""
    outside = _QUOTED.sub("", line)
    return "".join(d for d in CANDIDATES if d in outside)


def split_line(line: str, delimiter: str) -> list[str]:
    """One CSV line's fields, split by `delimiter` and stripped."""
    return clean_names(next(csv.reader([line], delimiter=delimiter), []))


def ambiguous_delimiters(label: str, found: list[str]) -> InputError:
    shown = " and ".join(show_delimiter(d) for d in found)
    example = "tab" if found[0] == "\t" else shlex.quote(found[0])
    return InputError(
        f"cannot tell how the columns of {label} are separated: its header holds {shown}; "
        f"pass --delimiter with the right one (e.g. --delimiter {example})"
    )


def keep_columns(names: list[str], keep: tuple[str, ...], label: str) -> dict[str, int] | None:
    """The columns --keep-columns names (the name given: its index), matched as the ID column
    is (exactly, else the one column equal to it ignoring case, spaces, `_` and `-`); an
    InputError naming one that is missing or ambiguous."""
    if keep and not names:
        raise InputError(f"--keep-columns: {label} is a list of IDs without a header: no columns")
    found: dict[str, int] = {}
    for name in keep:
        try:
            found[name] = find_id_column(names, name, f"--keep-columns: {label}").index
        except InputError as err:
            raise InputError(_keep_problem(str(err), names)) from None
    return found or None


def _keep_problem(message: str, names: list[str]) -> str:
    """find_id_column's message, said of a kept column (no --id-field hint)."""
    if "that could be" in message:
        return message.replace("pass --id-field with the one to use", "name one exactly")
    head = message.split("; columns found:", 1)[0]
    shown = ", ".join(_show(name) for name in names[:20])
    return f"{head}; columns found: {shown}"
