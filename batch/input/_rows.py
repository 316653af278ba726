"""What `open_rows` yields: the rows of an input and what was understood of it."""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from batch.input._formats import BLANK, Row

__all__ = ["FORMATS", "Format", "InputInfo", "Rows"]

Format = Literal["csv", "tsv", "jsonl", "json", "xlsx", "ods"]
FORMATS: tuple[str, ...] = get_args(Format)
_SHEETS = ("xlsx", "ods")


@dataclass(frozen=True, slots=True)
class InputInfo:
    """What the reader understood of the input, for the dry-run report, the logs, the summary.

    `encoding` is as shown to people ("UTF-8", "cp1252 (detected)"); `header_row` the line
    (row, in a workbook) of the header, None without one (JSON, or a list of IDs); `above`
    the non-blank rows above it, skipped (a title, group headers); `headerless`: a list of
    IDs without header, its first row read as an ID; `hidden_sheet`: the sheet read is
    hidden (it was named).
    """

    format: Format
    id_field: str
    id_column: str
    id_matched_loosely: bool = False
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    gzip: bool = False
    header_row: int | None = None
    above: int = 0
    headerless: bool = False
    header_forced: bool = False
    hidden_sheet: bool = False

    @property
    def unit(self) -> str:
        """What the input's rows are called: a workbook's "row", a text file's "line"."""
        return "row" if self.format in _SHEETS else "line"

    def header(self) -> str | None:
        """Where the header is, when it is not simply the first line: "row 4 (3 rows above it
        skipped)", every row above counted, blank ones too, as a person counts them in the
        file; "none: a list of IDs, its first line read as one"; None otherwise."""
        if self.headerless:
            return f"none: a list of IDs, its first {self.unit} read as one"
        if self.header_row is None or (self.header_row == 1 and not self.header_forced):
            return None
        notes = ["--header-row"] if self.header_forced else []
        if skipped := self.header_row - 1:
            notes.append(
                f"{skipped} {self.unit if skipped == 1 else self.unit + 's'} above it skipped"
            )
        return f"{self.unit} {self.header_row}" + (f" ({'; '.join(notes)})" if notes else "")

    def describe(self) -> str:
        """What a person should know of how the input was read, in a phrase ("" when there
        is nothing to say): the sheet, where the header is, an encoding that is not UTF-8."""
        parts = []
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet!r}" + (" (hidden)" if self.hidden_sheet else ""))
        if self.headerless:
            parts.append("no header: a list of IDs")
        elif (header := self.header()) is not None:
            parts.append(f"header on {header}")
        if self.encoding is not None and not self.encoding.startswith("UTF-8"):
            parts.append(self.encoding)
        return ", ".join(parts)

    def as_report(self) -> dict[str, object]:
        return {
            "format": self.format + (" (gzip)" if self.gzip else ""),
            "encoding": self.encoding,
            "delimiter": None if self.delimiter is None else self.delimiter.replace("\t", "tab"),
            "sheet": self.sheet,
            "sheet_hidden": self.hidden_sheet,
            "header": self.header(),
            "header_row": self.header_row,
            "headerless": self.headerless,
            "id_column": self.id_column,
        }

    def as_event(self) -> dict[str, object]:
        """The fields of the run_started event that say how the input is read."""
        return {
            "input_format": self.format,
            "encoding": self.encoding,
            "delimiter": self.as_report()["delimiter"],
            "sheet": self.sheet,
            "header_row": self.header_row,
            "headerless": self.headerless,
            "id_column": self.id_column,
            "read": self.describe(),
        }


@dataclass(frozen=True, slots=True)
class Total:
    """How many rows an input holds, counted or (from its size) estimated."""

    rows: int
    estimated: bool


class Rows:
    """The input's rows (an iterator of `Row`) and `info`, what was understood of it.

    `total()` says how many rows it holds when that is known or cheap to tell (a workbook,
    a file on disk), for a progress bar.
    """

    def __init__(
        self,
        rows: Iterator[Row],
        info: InputInfo,
        text: io.TextIOWrapper | None = None,
        count: Callable[[], Total | None] | None = None,
    ) -> None:
        self._rows = rows
        self.info = info
        self.text = text
        self._count = count
        self._total: Total | None = None

    def __iter__(self) -> Iterator[Row]:
        return self._rows  # islice and for loops step the generator itself, at C speed

    def __next__(self) -> Row:
        return next(self._rows)

    def total(self) -> int | None:
        """The rows of the input (blank ones included, the header and what is above it not),
        None when unknown (standard input); estimated from the file's size when counting
        would cost too much (`total_estimated`). May read the file: call it in a thread."""
        if self._total is None and self._count is not None:
            self._total = self._count()
            self._count = None
        return None if self._total is None else self._total.rows

    @property
    def total_estimated(self) -> bool:
        return self._total is not None and self._total.estimated

    def started(self) -> Rows | None:
        """These rows with the first data row already read; None when there is none (an input
        of blank rows only). The blank rows read on the way are kept, to be counted."""
        leading: list[Row] = []
        for row in self._rows:
            leading.append(row)
            if row.problem != BLANK:
                rest = Rows(itertools.chain(leading, self._rows), self.info, self.text, self._count)
                rest._total = self._total
                return rest
        return None

    def close(self) -> None:
        # A reader thread abandoned on Ctrl-C (standard input that never ends) may still be
        # inside the generator: it cannot be closed then, and the process is exiting anyway.
        close = getattr(self._rows, "close", None)
        if close is not None:
            with contextlib.suppress(ValueError):
                close()
