"""Reading input: records from files and standard input, the input rules, work items."""

from __future__ import annotations

from batch.input._formats import BLANK
from batch.input._items import BATCH, KeyFilter, RowItems
from batch.input._reader import Row, guess_format, open_rows
from batch.input._rows import FORMATS, InputInfo, Rows

__all__ = [
    "BATCH",
    "BLANK",
    "FORMATS",
    "InputInfo",
    "KeyFilter",
    "Row",
    "RowItems",
    "Rows",
    "guess_format",
    "open_rows",
]
