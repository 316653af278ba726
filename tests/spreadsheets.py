"""Workbooks for tests: minimal .xlsx and .ods files written with zipfile (strings, numbers,
dates; an .ods's hidden sheets and active sheet), and real ones written by openpyxl (hidden
sheets, the active sheet, merged cells, as Excel writes them).

The zipfile ones hold just enough of SpreadsheetML and OpenDocument for a reader to see sheets,
rows and typed cells; the corpus's exports are written by openpyxl (tests/corpus/make_exports.py).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl

Cell = str | int | float | dt.date | None

_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _xlsx_cell(ref: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        serial = (value - _EXCEL_EPOCH).days
        return f'<c r="{ref}" s="1"><v>{serial}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _sheet_xml(rows: list[list[Cell]], first_row: int) -> str:
    body = []
    for number, row in enumerate(rows, first_row):
        cells = "".join(_xlsx_cell(f"{_column(i)}{number}", v) for i, v in enumerate(row))
        body.append(f'<row r="{number}">{cells}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{''.join(body)}</sheetData></worksheet>"
    )


def write_xlsx(path: Path, sheets: dict[str, list[list[Cell]]], first_row: int = 1) -> Path:
    """A workbook with these sheets (in order); rows start at `first_row`."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    sheet_type = f"{rel}/worksheet"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            f'officedocument.spreadsheetml.styles+xml"/>{overrides}</Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            f'{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        entries = "".join(
            f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(sheets, 1)
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            f"<sheets>{entries}</sheets></workbook>",
        )
        links = "".join(
            f'<Relationship Id="rId{i}" Type="{sheet_type}" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        styles_id = len(sheets) + 1
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships">{links}<Relationship Id="rId'
            f'{styles_id}" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        )
        z.writestr(
            "xl/styles.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{main}">'
            '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>'
            "</cellXfs></styleSheet>",
        )
        for i, rows in enumerate(sheets.values(), 1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", _sheet_xml(rows, first_row))
    return path


def _ods_cell(value: Cell) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, dt.date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}"/>'
        )
    if isinstance(value, int | float):
        return f'<table:table-cell office:value-type="float" office:value="{value}"/>'
    return f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'


def write_workbook(
    path: Path,
    sheets: dict[str, list[list[Cell]]],
    *,
    hidden: tuple[str, ...] = (),
    active: str | None = None,
    merged: dict[str, list[str]] | None = None,
) -> Path:
    """A workbook written by openpyxl: these sheets (in order), some `hidden`, one `active`
    (openpyxl makes a hidden active sheet's neighbour active, as Excel does), cell ranges
    `merged` per sheet ("A1:D1")."""
    book = openpyxl.Workbook()
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for cells in (merged or {}).get(name, []):
            sheet.merge_cells(cells)
        if name in hidden:
            sheet.sheet_state = "hidden"
    del book["Sheet"]
    if active is not None:
        book.active = list(sheets).index(active)
    book.save(path)
    return path


def set_active_tab(path: Path, index: int) -> Path:
    """Rewrite an .xlsx's ``activeTab`` as other writers may leave it (a hidden sheet's)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/workbook.xml"] = re.sub(
        rb'activeTab="[0-9]+"', b'activeTab="%d"' % index, parts["xl/workbook.xml"]
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def write_ods(
    path: Path,
    sheets: dict[str, list[list[Cell]]],
    *,
    hidden: tuple[str, ...] = (),
    active: str | None = None,
) -> Path:
    """An OpenDocument spreadsheet with these sheets, some `hidden`, one `active`."""
    tables = "".join(
        f'<table:table table:name="{escape(name)}"'
        f' table:style-name="{"hidden" if name in hidden else "shown"}">'
        + "".join(
            "<table:table-row>" + "".join(_ods_cell(v) for v in row) + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for name, rows in sheets.items()
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
            'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
            'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.'
            'spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-'
            'type="text/xml"/></manifest:manifest>',
        )
        z.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:'
            'oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:'
            'opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:'
            'text:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
            'office:version="1.2"><office:automatic-styles>'
            '<style:style style:name="shown" style:family="table"><style:table-properties '
            'table:display="true"/></style:style><style:style style:name="hidden" '
            'style:family="table"><style:table-properties table:display="false"/></style:style>'
            "</office:automatic-styles><office:body><office:spreadsheet>"
            f"{tables}</office:spreadsheet></office:body></office:document-content>",
        )
        if active is not None:
            z.writestr(
                "settings.xml",
                '<?xml version="1.0" encoding="UTF-8"?><office:document-settings xmlns:office="urn:'
                'oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:config="urn:oasis:names:tc:'
                'opendocument:xmlns:config:1.0"><office:settings><config:config-item-set '
                'config:name="ooo:view-settings"><config:config-item-map-indexed config:name="Views">'
                '<config:config-item-map-entry><config:config-item config:name="ActiveTable" '
                f'config:type="string">{escape(active)}</config:config-item>'
                "</config:config-item-map-entry></config:config-item-map-indexed>"
                "</config:config-item-set></office:settings></office:document-settings>",
            )
    return path
