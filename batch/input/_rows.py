"""What `open_rows` yields: the rows of an input and what was understood of it."""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from batch.input._formats import BLANK, Row

__all__ = ["FORMATS", "Format", "InputInfo", "Rows"]

Format = Literal["csv", "tsv", "jsonl", "json", "xlsx", "ods"]
FORMATS: tuple[str, ...] = get_args(Format)


@dataclass(frozen=True, slots=True)
class InputInfo:
    """What the reader understood of the input, for the dry-run report and the logs."""

    format: Format
    id_field: str
    id_column: str
    id_matched_loosely: bool = False
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    gzip: bool = False

    def as_report(self) -> dict[str, object]:
        return {
            "format": self.format + (" (gzip)" if self.gzip else ""),
            "encoding": self.encoding,
            "delimiter": None if self.delimiter is None else self.delimiter.replace("\t", "tab"),
            "sheet": self.sheet,
            "id_column": self.id_column,
        }


class Rows:
    """The input's rows (an iterator of `Row`) and `info`, what was understood of it."""

    def __init__(
        self,
        rows: Iterator[Row],
        info: InputInfo,
        text: io.TextIOWrapper | None = None,
    ) -> None:
        self._rows = rows
        self.info = info
        self.text = text

    def __iter__(self) -> Iterator[Row]:
        return self._rows  # islice and for loops step the generator itself, at C speed

    def __next__(self) -> Row:
        return next(self._rows)

    def started(self) -> Rows | None:
        """These rows with the first data row already read; None when there is none (an input
        of blank rows only). The blank rows read on the way are kept, to be counted."""
        leading: list[Row] = []
        for row in self._rows:
            leading.append(row)
            if row.problem != BLANK:
                return Rows(itertools.chain(leading, self._rows), self.info, self.text)
        return None

    def close(self) -> None:
        # A reader thread abandoned on Ctrl-C (standard input that never ends) may still be
        # inside the generator: it cannot be closed then, and the process is exiting anyway.
        close = getattr(self._rows, "close", None)
        if close is not None:
            with contextlib.suppress(ValueError):
                close()
