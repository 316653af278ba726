"""Spreadsheets (`.xlsx`, `.xlsm`, `.ods`) through python-calamine.

calamine (Rust) was measured against openpyxl's read-only mode on a 200k-row, 3-column sheet
(bench/README.md): 0.9 s against 13.7 s, for 75 MiB peak against 41 MiB. calamine loads the
sheet's cells whole (about 85 bytes a cell), which a sheet's size bounds (Excel stops at
1,048,576 rows); openpyxl streams but at 15k rows/s. The sheet read is chosen by
`batch.input._workbook`; the header is found as in CSV (`batch.input._header`); `line` is the
sheet's row number, and the sheet's last row is known at once (the progress bar's total). A
cell the spreadsheet turned into a number, a date or a boolean is not an ID: its row gets a
problem saying so.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, TypeAlias

from batch.engine import InputError
from batch.input._columns import IdColumn, clean_names, keep_columns
from batch.input._formats import BLANK, Columns, Row, value_problem
from batch.input._header import Header, HeaderSearch, Wanted
from batch.input._workbook import ChosenSheet, choose_sheet

__all__ = ["Sheet", "SheetRequest", "open_sheet"]

Cell: TypeAlias = int | float | str | bool | dt.time | dt.date | dt.datetime | dt.timedelta


@dataclass(frozen=True, slots=True)
class SheetRequest:
    """What to read of a workbook: which sheet (None: the active visible one), the ID field,
    the header row if forced, the columns to keep, and the job's test of a key."""

    id_field: str
    sheet: str | None = None
    header_row: int | None = None
    keep: tuple[str, ...] = ()
    is_key: Callable[[str], bool] | None = None


class Sheet:
    """A workbook's sheet, its header read: `rows` streams the body's Rows."""

    def __init__(
        self,
        chosen: ChosenSheet,
        cells: Iterator[list[Cell]],
        header: Header,
        last_row: int,
        keep: dict[str, int] | None = None,
    ) -> None:
        self.chosen = chosen
        self.name = chosen.name
        self.header = header
        self.column: IdColumn = header.column
        self._keep = keep
        self._cells = cells
        #: the row before the first data row (the header's, or 0 for a list of IDs)
        self.before = header.line - 1 if header.headerless else header.line
        #: data rows below the header, blank ones included (the sheet's size is known)
        self.total = max(last_row - self.before, 0)

    def rows(self, id_field: str) -> Generator[Row, None, None]:
        index = self.column.index
        missing = f"no '{id_field}' value"
        line = self.before
        keep = self._keep
        columns = None
        for cells in self._cells:
            line += 1
            if keep:
                columns = _kept(cells, keep)
            value = cells[index] if index < len(cells) else ""
            if type(value) is str:
                if value and not value.isspace():
                    problem = value_problem(value, id_field)
                    yield (
                        Row(line, None, problem, columns)
                        if problem
                        else Row(line, value, None, columns)
                    )
                    continue
                blank = all(cell == "" or (type(cell) is str and cell.isspace()) for cell in cells)
                yield Row(line, None, BLANK) if blank else Row(line, None, missing, columns)
                continue
            yield Row(line, None, _converted(value), columns)


def _kept(cells: list[Cell], keep: dict[str, int]) -> Columns:
    width = len(cells)
    return {name: _text(cells[i]) if i < width else "" for name, i in keep.items()}


def _converted(value: Cell) -> str:
    """The problem of an ID cell that the spreadsheet stored as something other than text."""
    if isinstance(value, bool):
        what = f"the boolean {'TRUE' if value else 'FALSE'}"
    elif isinstance(value, int | float):
        shown = int(value) if isinstance(value, float) and value.is_integer() else value
        what = f"the number {shown}"
    elif isinstance(value, dt.datetime | dt.date):
        what = f"a date ({value.isoformat()})"
    elif isinstance(value, dt.time | dt.timedelta):
        what = f"a time ({value})"
    else:
        what = f"a {type(value).__name__}"
    return f"the cell holds {what}, not text: the spreadsheet converted the ID"


def open_sheet(source: str | IO[bytes], label: str, request: SheetRequest) -> Sheet:
    """Open the workbook and read the sheet's header; InputError when that cannot be done."""
    import python_calamine  # noqa: PLC0415 - only workbooks pay for it

    try:
        book = python_calamine.load_workbook(source)
    except python_calamine.PasswordError:
        raise InputError(
            f"cannot read {label}: the workbook is password-protected; save a copy without "
            "a password, or export the sheet as CSV"
        ) from None
    except (python_calamine.CalamineError, ValueError, OSError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(
            f"cannot read {label}: it is a zip file but not a workbook calamine can read ({first})"
        ) from None
    chosen = choose_sheet(book, source, request.sheet, label)
    sheet = book.get_sheet_by_name(chosen.name)
    where = f"sheet {chosen.name!r} of {label}"
    end = sheet.end
    if sheet.start is None or end is None:
        raise InputError(
            f"{where} is empty: expected a header row with a '{request.id_field}' column"
            + chosen.others_hint()
        )
    # iter_rows gives the rows from the sheet's first (row 1), even when the data starts lower,
    # and the columns from the first used one: the row number is the position plus one.
    cells: Iterator[list[Cell]] = sheet.iter_rows()
    header, found_in = _find_header(cells, where, chosen, request)
    if header.headerless:
        cells = itertools.chain([found_in], cells)
    keep = keep_columns(header.names, request.keep, where) if request.keep else None
    return Sheet(chosen, cells, header, end[0] + 1, keep)


def _find_header(
    cells: Iterator[list[Cell]], where: str, chosen: ChosenSheet, request: SheetRequest
) -> tuple[Header, list[Cell]]:
    """The sheet's header, and the row it was found in."""
    wanted = Wanted(request.id_field, request.header_row, request.is_key)
    search = HeaderSearch(wanted, where, unit="row", hint=chosen.others_hint())
    number = 0
    for number, row in enumerate(cells, 1):
        found = search.offer(number, [(None, clean_names([_text(cell) for cell in row]))])
        if found is not None:
            return found, row
        if search.full:
            break
    raise search.failure(number)


def _text(cell: Cell) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
