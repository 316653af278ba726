"""Spreadsheets (`.xlsx`, `.xlsm`, `.ods`) through python-calamine.

calamine (Rust) was measured against openpyxl's read-only mode on a 200k-row, 3-column sheet
(bench/README.md): 0.9 s against 13.7 s, for 75 MiB peak against 41 MiB. calamine loads the
sheet's cells whole (about 85 bytes a cell), which a sheet's size bounds (Excel stops at
1,048,576 rows); openpyxl streams but at 15k rows/s. The first sheet by default, or the one
named; the header is the first non-blank row; `line` is the sheet's row number. A cell the
spreadsheet turned into a number, a date or a boolean is not an ID: its row gets a problem
saying so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import IO, Any

from batch.engine import InputError
from batch.input._columns import IdColumn, clean_names, find_id_column, keep_columns
from batch.input._formats import BLANK, Row, value_problem

__all__ = ["Sheet", "open_sheet"]

Cell = Any  # str | int | float | bool | date | datetime | time | timedelta


class Sheet:
    """A workbook's sheet, its header read: `rows` streams the body's Rows."""

    def __init__(
        self,
        name: str,
        cells: Any,
        header_line: int,
        column: IdColumn,
        keep: dict[str, int] | None = None,
    ) -> None:
        self.name = name
        self._keep = keep
        self._cells = cells
        self._header_line = header_line
        self.column = column

    def rows(self, id_field: str) -> Generator[Row, None, None]:
        index = self.column.index
        missing = f"no '{id_field}' value"
        line = self._header_line
        keep = self._keep
        columns = None
        for cells in self._cells:
            line += 1
            if keep:
                columns = {k: _text(cells[i]) if i < len(cells) else "" for k, i in keep.items()}
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


def open_sheet(
    source: str | IO[bytes], label: str, sheet: str | None, id_field: str, keep: tuple[str, ...]
) -> Sheet:
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
    names = book.sheet_names
    if not names:
        raise InputError(f"{label} is empty: the workbook has no sheet")
    if sheet is None:
        chosen = book.get_sheet_by_index(0)
    elif sheet in names:
        chosen = book.get_sheet_by_name(sheet)
    else:
        shown = ", ".join(repr(name) for name in names[:20])
        raise InputError(f"{label} has no sheet {sheet!r}; its sheets: {shown}")
    start = chosen.start
    where = f"sheet {chosen.name!r} of {label}"
    if start is None:
        raise InputError(f"{where} is empty: expected a header row with a '{id_field}' column")
    # iter_rows gives the rows from the sheet's first (row 1), even when the data starts lower,
    # and the columns from the first used one: the row number is the position plus one.
    cells = chosen.iter_rows()
    for line, header in enumerate(cells, 1):
        if any(cell != "" for cell in header):
            names = clean_names([_text(cell) for cell in header])
            column = find_id_column(names, id_field, where)
            return Sheet(chosen.name, cells, line, column, keep_columns(names, keep, where))
    raise InputError(f"{where} is empty: expected a header row with a '{id_field}' column")


def _text(cell: Cell) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
