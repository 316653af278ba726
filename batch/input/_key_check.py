"""JSON inputs keyed differently are refused at once, as a CSV without the ID column is.

A CSV names its columns in its header, so a wrong ``--id-field`` stops the run
before any call. JSON lines and arrays have no header: without this check a
file keyed ``{"id": …}`` would give an ``invalid_input`` record per row. The
first records are read ahead until one holds the key (usually the first);
when none of the first `PEEK` does, the run stops with the keys found.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from batch.engine import InputError
from batch.input._formats import BLANK, Row

__all__ = ["PEEK", "require_key"]

PEEK = 100


def require_key(rows: Iterator[Row], seen: dict[str, int], label: str, name: str) -> Iterator[Row]:
    """``rows`` unchanged, once one of the first `PEEK` records holds ``name``; else InputError."""
    missing = f"no '{name}' value"
    ahead: list[Row] = []
    for row in rows:
        ahead.append(row)
        if row.value is not None or row.problem not in (missing, BLANK, "not a JSON object"):
            return itertools.chain(ahead, rows)  # the key is there (maybe with a bad value)
        if len(ahead) >= PEEK:
            break
    records = sum(1 for row in ahead if row.problem == missing)
    if records == 0:
        return itertools.chain(ahead, rows)
    found = sorted(seen, key=lambda key: (-seen[key], key))
    shown = ", ".join(repr(key) for key in found[:12]) + (", …" if len(found) > 12 else "")
    raise InputError(
        f"{label}: none of the first {records} records has a {name!r} key; keys found: "
        f"{shown}; pass --id-field NAME (a dotted name reaches into nested objects, "
        "e.g. person.id)"
    )
