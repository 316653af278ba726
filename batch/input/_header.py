"""Finding the header: the first row (of the first `HEADER_SEARCH`) that holds the ID column.

Exports put things above their column names: a title ("Staff export - 2026-12-03"), blank
rows, a group header ("Identity" over two columns, "Contact" over three). Offered the input's
rows from the top (`HeaderSearch.offer`), the search skips them until a row holds the ID
column (as `batch.input._columns.find_id_column` matches it), and says how many it skipped.

- A row may be offered split several ways (a CSV line with `,` and `;` in it): the one way
  that finds the ID column is the header's delimiter; several ways that do are refused.
- A first row that holds a key (the job's `parse_key` accepts it) in exactly one of its
  fields, and no ID column, is no header: the input is a list of IDs, its first row
  included (one ID per line, or a table without header whose one key column is the ID).
- `forced` (``--header-row N``) takes row N as the header, whatever is above it.
- When no row of the first `HEADER_SEARCH` non-blank ones holds the column, the widest of
  them (the likeliest header) is the one the message lists the columns of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from batch.engine import InputError
from batch.input._columns import IdColumn, ambiguous_delimiters, find_id_column, id_matches

__all__ = ["HEADER_SEARCH", "Header", "HeaderSearch", "Split", "Wanted"]

HEADER_SEARCH = 20
"""Non-blank rows looked at for the header; below them, ``--header-row`` says where it is."""

Split = tuple[str | None, list[str]]
"""One way to split a row: the delimiter (None for a spreadsheet row) and the fields."""


@dataclass(frozen=True, slots=True)
class Header:
    """Where the body starts and how to read it.

    `line` is the header's row, or for a list of IDs without header (`headerless`) its first
    row, which is data; `above`: the non-blank rows above it, skipped; `width`: the fields of
    that row; `names`: the header's (empty without header).
    """

    line: int
    delimiter: str | None
    column: IdColumn
    names: list[str]
    width: int
    above: int = 0
    headerless: bool = False
    forced: bool = False


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the search looks for: the ID field's column, in row `forced` if given; `is_key`
    (the job's test of a key) tells a first row of IDs, which is no header."""

    id_field: str
    forced: int | None = None
    is_key: Callable[[str], bool] | None = None


def _blank(splits: list[Split]) -> bool:
    return all(not name for name in splits[0][1])


class HeaderSearch:
    """Offered an input's rows in order, finds its header (see the module docstring).

    `wanted` is what it looks for; `where` names the input (or its sheet) in messages, `unit` its rows ("line", "row");
    `hint` ends the message when no row holds the ID column.
    """

    def __init__(self, wanted: Wanted, where: str, *, unit: str = "line", hint: str = "") -> None:
        self._id_field = wanted.id_field
        self._where = where
        self._forced = wanted.forced
        self._is_key = wanted.is_key
        self._unit = unit
        self._hint = hint
        #: non-blank rows offered that were not the header
        self.above = 0
        self._widest: list[Split] | None = None
        #: the row of the widest of them (the one a failure lists the columns of)
        self.widest_line = 0

    @property
    def full(self) -> bool:
        """Whether the search is over (no header in the rows it may look at)."""
        return self._forced is None and self.above >= HEADER_SEARCH

    def offer(self, line: int, splits: list[Split]) -> Header | None:
        """The header, if row `line` (split these ways) is it or shows that there is none."""
        if self._forced is not None:
            if line < self._forced:
                self.above += not _blank(splits)
                return None
            return self._forced_header(line, splits)
        if _blank(splits):
            return None
        fits = [split for split in splits if id_matches(split[1], self._id_field)]
        if len(fits) > 1:
            raise ambiguous_delimiters(self._where, [d for d, _ in splits if d is not None])
        if fits:
            return self._header(line, fits[0])
        if not self.above and (listed := self._headerless(line, splits)) is not None:
            return listed
        self.above += 1
        if self._widest is None or _width(splits) > _width(self._widest):
            self._widest, self.widest_line = splits, line
        return None

    def blank_before(self, lines: int) -> None:
        """`lines` blank rows were read before the first one offered."""
        if self._forced is not None and self._forced <= lines:
            raise InputError(f"{self._where} {self._unit} {self._forced} (--header-row) is blank")

    def failure(self, rows: int, names: list[str] | None = None) -> InputError:
        """Why there is no header, once the search is `full` or the input (`rows` long) ends;
        `names`: the widest row's fields as its reader reads them (a CSV record may span
        lines), instead of its split."""
        if self._forced is not None:
            return InputError(
                f"{self._where} has no {self._unit} {self._forced} (--header-row): it ends at "
                f"{self._unit} {rows}"
            )
        if self._widest is None:
            return InputError(
                f"{self._where} is empty: expected a header row with a '{self._id_field}' column"
            )
        hint = self._hint
        if self.full:
            hint = (
                f"; none of its first {HEADER_SEARCH} rows holds it (pass --header-row N if "
                f"the header is lower){hint}"
            )
        try:
            if len(self._widest) > 1:
                raise ambiguous_delimiters(self._where, [d for d, _ in self._widest if d])
            fields = self._widest[0][1] if names is None else names
            find_id_column(fields, self._id_field, self._where, missing_hint=hint)
        except InputError as err:
            return err
        raise AssertionError("a row without the ID column matched it")  # pragma: no cover

    def _header(self, line: int, split: Split, where: str = "") -> Header:
        delimiter, names = split
        column = find_id_column(names, self._id_field, where or self._where)
        return Header(line, delimiter, column, names, len(names), self.above, forced=bool(where))

    def _forced_header(self, line: int, splits: list[Split]) -> Header:
        where = f"{self._where} {self._unit} {line} (--header-row)"
        if _blank(splits):
            raise InputError(f"{where} is blank")
        fits = [split for split in splits if id_matches(split[1], self._id_field)]
        if len(fits) > 1 or (not fits and len(splits) > 1):
            raise ambiguous_delimiters(where, [d for d, _ in splits if d is not None])
        return self._header(line, fits[0] if fits else splits[0], where)

    def _headerless(self, line: int, splits: list[Split]) -> Header | None:
        is_key = self._is_key
        if is_key is None:
            return None
        for delimiter, fields in splits:
            keys = [i for i, value in enumerate(fields) if value and is_key(value)]
            if len(keys) == 1:
                column = IdColumn(keys[0], f"column {keys[0] + 1}", loose=False)
                return Header(line, delimiter, column, [], len(fields), headerless=True)
        return None


def _width(splits: list[Split]) -> int:
    return max(sum(1 for name in names if name) for _, names in splits)
