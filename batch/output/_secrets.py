"""Whether an existing file holds secrets: a side file replaced whole must never land on one.

The errors and metrics files are replaced whole when a run ends. Named by
mistake like a results file (``--errors tokens.jsonl``, a metrics file named
like yesterday's results), that replacement would destroy every token in it:
such a file is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Collection

__all__ = ["holds_secrets"]

_PEEK = 1 << 16


def holds_secrets(path: str, fields: Collection[str]) -> bool:
    """Whether ``path`` (if it exists) looks like records carrying any of ``fields``: a CSV
    header naming one, or a JSON line with one of them set (its first 64 KiB are read)."""
    if not fields or not os.path.isfile(path):  # a FIFO would block the read
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(_PEEK)
    except OSError:
        return False
    lines = head.decode("utf-8", "replace").splitlines()
    for line in lines:
        if not line.strip():
            continue
        if not line.lstrip().startswith("{"):  # a CSV: its header is the first line
            header = next(csv.reader([line.lstrip("\ufeff")]), [])
            return any(name.strip() in fields for name in header)
        break
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and any(record.get(name) for name in fields):
                return True
    return False
