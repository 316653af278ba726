"""Reading input: records from files and standard input, the input rules, work items."""

from __future__ import annotations

from batch.input._items import BATCH, KeyFilter, RowItems
from batch.input._reader import Row, guess_format, open_rows

__all__ = ["BATCH", "KeyFilter", "Row", "RowItems", "guess_format", "open_rows"]
