"""Which sheet of a workbook is read: the one named, else the active sheet if visible, else
the first visible one.

A workbook's first sheet is often not what its owner looks at: a hidden "Previous export" or
"lookup" sheet, kept for formulas. Reading it would mint tokens for a stale list, so a
hidden sheet is read only when named (``--sheet``). python-calamine tells each sheet's
visibility (`CalamineWorkbook.sheets_metadata`) but not which one is active: that is read
from the workbook itself, the small part of it that says so (`workbookView activeTab` in an
.xlsx's ``xl/workbook.xml``, the ``ActiveTable`` setting in an .ods's ``settings.xml``).
Only worksheets count (not chart sheets).
"""

from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from batch.engine import InputError

if TYPE_CHECKING:
    from python_calamine import CalamineWorkbook

__all__ = ["ChosenSheet", "choose_sheet"]

_READ_AT_MOST = 1 << 20  # of workbook.xml / settings.xml: the part that says it comes first
_XLSX_ACTIVE = re.compile(rb"<(?:\w+:)?workbookView\b[^>]*?\sactiveTab=\"(\d+)\"")
_ODS_ACTIVE = re.compile(rb"config:name=\"ActiveTable\"[^>]*>([^<]*)<")


@dataclass(frozen=True, slots=True)
class ChosenSheet:
    """The sheet to read, whether it is hidden, and the workbook's visible worksheets."""

    name: str
    hidden: bool
    visible: tuple[str, ...]

    def others_hint(self) -> str:
        """For a message about this sheet: the other sheets one could read instead."""
        others = [name for name in self.visible if name != self.name]
        if not others:
            return ""
        return f"; the workbook's visible sheets: {_names(self.visible)} (pass --sheet NAME)"


def choose_sheet(
    book: CalamineWorkbook, source: str | IO[bytes], given: str | None, label: str
) -> ChosenSheet:
    """The sheet of `book` (read from `source`) to read; InputError when there is none."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum  # noqa: PLC0415 - see _sheets

    sheets = [
        (meta.name, meta.visible == SheetVisibleEnum.Visible)
        for meta in book.sheets_metadata
        if meta.typ == SheetTypeEnum.WorkSheet
    ]
    if not sheets:
        raise InputError(f"{label} is empty: the workbook has no sheet")
    visible = tuple(name for name, shown in sheets if shown)
    if given is not None:
        if given not in (name for name, _ in sheets):
            raise InputError(f"{label} has no sheet {given!r}; its sheets: {_listed(sheets)}")
        return ChosenSheet(given, given not in visible, visible)
    if not visible:
        raise InputError(
            f"{label} has no visible sheet; pass --sheet NAME to read a hidden one "
            f"(its sheets: {_listed(sheets)})"
        )
    active = _active(source, book.sheet_names)
    return ChosenSheet(active if active in visible else visible[0], False, visible)


def _names(names: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:20])
    return shown + (f", … ({len(names) - 20} more)" if len(names) > 20 else "")


def _listed(sheets: list[tuple[str, bool]]) -> str:
    shown = ", ".join(
        repr(name) + ("" if visible else " (hidden)") for name, visible in sheets[:20]
    )
    return shown + (f", … ({len(sheets) - 20} more)" if len(sheets) > 20 else "")


def _active(source: str | IO[bytes], names: list[str]) -> str | None:
    """The name of the sheet the workbook says is active, or None when it does not say."""
    try:
        with zipfile.ZipFile(source) as archive:
            parts = set(archive.namelist())
            if "xl/workbook.xml" in parts:
                with archive.open("xl/workbook.xml") as part:
                    found = _XLSX_ACTIVE.search(part.read(_READ_AT_MOST))
                index = int(found.group(1)) if found else 0
                return names[index] if index < len(names) else None
            if "settings.xml" in parts:
                with archive.open("settings.xml") as part:
                    found = _ODS_ACTIVE.search(part.read(_READ_AT_MOST))
                return html.unescape(found.group(1).decode()) if found else None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, KeyError):
        return None  # calamine read it: the first visible sheet will do
    return None
