"""Writes the input files of the corpus's export cases, as the programs that make them do.

The workbooks are written by openpyxl (what Excel writes, hidden sheets, the active sheet and
merged cells included); the text files byte for byte as Excel's and HR systems' CSV exports
come (a BOM, CRLF, ``;``, cp1252). The corpus keeps the bytes; this script says how they were
made, and makes them again: ``python -m tests.corpus.make_exports``. It also writes the same
exports, larger, into ``sample_inputs/exports/`` for people to try.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

CORPUS = Path(__file__).parent
SAMPLES = CORPUS.parent.parent / "sample_inputs" / "exports"
TITLE = "Deel workers export - 2026-12-03"
NAMES = ["José Núñez", "Françoise Lefèvre", "Jürgen Groß", "Zoë Ångström", "Renée Dupré"]
GERMAN = ["Jürgen Groß", "Björn Schäfer", "Renée Müller", "Käthe Böhm", "Uwe Weiß"]


def ids(count: int, seed: int) -> list[str]:
    """`count` fixed version-4 UUIDs (the same on every run)."""
    out = []
    for i in range(count):
        value = (seed << 64 | i) * 0x9E3779B97F4A7C15 % (1 << 128)
        out.append(str(uuid.UUID(int=value, version=4)))
    return out


def _sheet(book: Workbook, title: str, rows: list[list[str]], *, hidden: bool = False) -> Worksheet:
    sheet: Worksheet = book.create_sheet(title)
    for row in rows:
        sheet.append(row)
    if hidden:
        sheet.sheet_state = "hidden"
    return sheet


def _save(book: Workbook, path: Path, active: str) -> None:
    del book["Sheet"]  # the sheet a new Workbook starts with
    book.active = book.sheetnames.index(active)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def hidden_first(path: Path, old: int = 3, current: int = 5) -> None:
    """A hidden "Previous export" first, a "Read me" sheet, the active "Current" last."""
    book = Workbook()
    _sheet(book, "Previous export", [["profile_id"], *([i] for i in ids(old, 1))], hidden=True)
    _sheet(book, "Read me", [["Exported from the HR system; one worker per row."]])
    rows = [[i, NAMES[n % len(NAMES)]] for n, i in enumerate(ids(current, 2))]
    _sheet(book, "Current", [["Profile ID", "Name"], *rows])
    _save(book, path, "Current")


def hidden_lookup(path: Path) -> None:
    """A hidden "lookup" sheet (no ID column) first, then the workers."""
    book = Workbook()
    _sheet(
        book, "lookup", [["Code", "Department"], ["10", "Sales"], ["20", "Finance"]], hidden=True
    )
    _sheet(book, "Workers", [["Profile ID", "Department"], *([i, "10"] for i in ids(3, 3))])
    _save(book, path, "Workers")


def summary_active(path: Path) -> None:
    """The active sheet is a summary without the ID column; the workers are on another."""
    book = Workbook()
    _sheet(book, "Summary", [["Department", "Headcount"], ["Sales", "3"]])
    _sheet(book, "lookup", [["Code", "Department"], ["10", "Sales"]], hidden=True)
    _sheet(book, "Workers", [["profile_id"], *([i] for i in ids(3, 4))])
    _save(book, path, "Summary")


def titled(path: Path, count: int = 3) -> None:
    """A merged title row, a blank row, merged group headers, then the header (row 4)."""
    book = Workbook()
    sheet = _sheet(book, "Workers", [[TITLE], [], ["Identity", "", "Contact", ""]])
    sheet.merge_cells("A1:D1")
    sheet.merge_cells("A3:B3")
    sheet.merge_cells("C3:D3")
    sheet.append(["Profile ID", "Name", "Email", "Phone"])
    for n, i in enumerate(ids(count, 5)):
        sheet.append([i, NAMES[n % len(NAMES)], f"worker{n}@example.com", f"+49 30 {n:07}"])
    _save(book, path, "Workers")


def titled_csv(path: Path, count: int = 3) -> None:
    """The same sheet saved by Excel as "CSV UTF-8 (;)": a BOM, CRLF, empty cells kept."""
    lines = [f"{TITLE};;;", ";;;", "Identity;;Contact;", "Profile ID;Name;Email;Phone"]
    for n, i in enumerate(ids(count, 5)):
        lines.append(f"{i};{NAMES[n % len(NAMES)]};worker{n}@example.com;+49 30 {n:07}")
    _write(path, ("\ufeff" + "\r\n".join(lines) + "\r\n").encode())


def windows(path: Path, names: list[str], seed: int, count: int = 3) -> None:
    """An old Windows export: cp1252, CRLF, `;`, accented names and a note."""
    note = "Überstunden: ja" if names is GERMAN else "Très bien"
    lines = ["Profile ID;Name;Note"]
    for n, i in enumerate(ids(count, seed)):
        lines.append(f"{i};{names[n % len(names)]};{note}")
    _write(path, ("\r\n".join(lines) + "\r\n").encode("cp1252"))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main() -> None:
    hidden_first(CORPUS / "hidden-first-sheet-xlsx" / "export.xlsx")
    hidden_first(CORPUS / "hidden-sheet-named-xlsx" / "export.xlsx")
    hidden_lookup(CORPUS / "hidden-lookup-sheet-xlsx" / "export.xlsx")
    summary_active(CORPUS / "active-sheet-lacking-column-xlsx" / "export.xlsx")
    titled(CORPUS / "title-two-row-header-xlsx" / "export.xlsx")
    titled(CORPUS / "title-two-row-header-dry-run-xlsx" / "export.xlsx")
    titled_csv(CORPUS / "title-two-row-header-csv" / "export.csv")
    for case in ("cp1252-crlf-semicolon-csv", "cp1252-with-encoding-csv-keep-columns"):
        windows(CORPUS / case / "export.csv", NAMES, 6)
    windows(CORPUS / "cp1252-with-encoding-csv-to-csv" / "export.csv", NAMES, 6)
    windows(CORPUS / "cp1252-detected-csv" / "export.csv", GERMAN, 7)
    hidden_first(SAMPLES / "hidden_first.xlsx", old=10, current=20)
    titled(SAMPLES / "titled.xlsx", count=20)
    titled_csv(SAMPLES / "titled.csv", count=20)
    windows(SAMPLES / "windows_export.csv", NAMES, 8, count=20)
    windows(SAMPLES / "windows_export_german.csv", GERMAN, 9, count=20)
    _write(SAMPLES / "bare_ids.txt", "".join(f"{i}\n" for i in ids(20, 10)).encode())


if __name__ == "__main__":
    main()
