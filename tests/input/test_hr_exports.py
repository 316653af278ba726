"""HR exports as they come: delimiters, encodings, workbooks, JSON arrays, refusals."""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest

from batch.engine._errors import InputError
from batch.input._formats import BLANK
from batch.input._reader import InputInfo, Row, open_rows
from tests.helpers import run_cli
from tests.spreadsheets import write_ods, write_xlsx

ID1 = "0b5e4bd2-6f0e-4c1a-9d55-0c8a1f3e7a01"
ID2 = "1c6f5ce3-7a1f-4d2b-8e66-1d9b2a4f8b02"
CONVERTED = "not text: the spreadsheet converted the ID"


def opened(path: Path | str, **options: str | None) -> tuple[InputInfo, list[Row]]:
    kwargs: dict[str, str | None] = {"fmt": None, "id_field": "profile_id", **options}
    with open_rows(str(path), **kwargs) as rows:  # type: ignore[arg-type]
        return rows.info, list(rows)


def refused(path: Path | str, **options: str | None) -> str:
    with pytest.raises(InputError) as caught:
        opened(path, **options)
    assert caught.value.exit_code == 2
    return str(caught.value)


def ok(*pairs: tuple[int, str]) -> list[Row]:
    return [Row(line, value, None) for line, value in pairs]


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(",", "a.csv"), (";", "a.csv"), ("\t", "a.csv"), ("|", "a.csv"), ("\t", "a.tsv")],
)
def test_delimiter_from_the_header(tmp_path: Path, delimiter: str, name: str) -> None:
    path = tmp_path / name
    rows = [["Name", "Profile ID", "Email"], ["A", ID1, "a@x"], ["B", ID2, "b@x"]]
    path.write_text("".join(delimiter.join(r) + "\r\n" for r in rows))
    info, got = opened(path)
    assert (info.delimiter, info.id_column, info.id_matched_loosely) == (
        delimiter,
        "Profile ID",
        True,
    )
    assert info.format == ("tsv" if delimiter == "\t" else "csv")
    assert got == ok((2, ID1), (3, ID2))


def test_a_quoted_semicolon_is_part_of_its_field(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f'Name;profile_id\n"Doe; Jane";{ID1}\n')
    assert opened(path)[1] == ok((2, ID1))


def test_delimiter_option_overrides(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"profile_id\n{ID1};x\n")  # a one-column header says nothing
    info, got = opened(path, delimiter=";")
    assert info.delimiter == ";"
    assert got == ok((2, ID1))


def test_two_delimiters_decided_by_the_id_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"Name, first;profile_id\nA, B;{ID1}\n")
    info, got = opened(path)
    assert info.delimiter == ";"
    assert got == ok((2, ID1))


def test_two_delimiters_that_cannot_be_told_apart_are_named(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b;c\n1,2;3\n")
    assert refused(path) == (
        f"cannot tell how the columns of '{path}' are separated: its header holds ',' and ';'; "
        "pass --delimiter with the right one (e.g. --delimiter ,)"
    )


def test_mixed_delimiters_between_lines_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"Name;profile_id;Email\nA;{ID1};a@x\nB,{ID2},b@x\n")
    assert opened(path)[1] == [
        Row(2, ID1, None),
        Row(3, None, "the row has 1 of the header's 3 columns and holds ',': mixed delimiters?"),
    ]


@pytest.mark.parametrize(
    ("bom", "codec", "shown"),
    [
        (codecs.BOM_UTF8, "utf-8", "UTF-8 with BOM"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE with BOM"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE with BOM"),
    ],
)
def test_encodings_from_the_bom(tmp_path: Path, bom: bytes, codec: str, shown: str) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(bom + f"Name\tProfile ID\r\nÉlodie\t{ID1}\r\n".encode(codec))
    info, got = opened(path)
    assert (info.encoding, info.delimiter) == (shown, "\t")
    assert got == ok((2, ID1))


def test_utf16_without_bom_is_named(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(f"profile_id\n{ID1}\n".encode("utf-16-le"))
    assert refused(path) == (
        f"cannot read '{path}': it looks like UTF-16 without a BOM; pass --encoding utf-16-le"
    )
    assert opened(path, encoding="utf-16-le")[1] == ok((2, ID1))


def test_cp1252_with_the_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(f"Nom;profile_id\nHélène;{ID1}\n".encode("cp1252"))
    info, got = opened(path, encoding="cp1252")
    assert info.encoding == "cp1252"
    assert got == ok((2, ID1))
    assert refused(path, encoding="nope") == (
        "unknown encoding 'nope' (examples: utf-8, cp1252, utf-16-le)"
    )


def test_xlsx_first_sheet_named_sheet_and_converted_cells(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "a.xlsx",
        {
            "People": [
                ["Name", "Profile ID"],
                ["A", ID1],
                [None, None],
                ["B", 12345],
                ["C", dt.date(2024, 1, 2)],
                ["D", None],
            ],
            "Other": [["profile_id"], [ID2]],
        },
        first_row=3,
    )
    info, got = opened(path)
    assert (info.format, info.sheet, info.id_column) == ("xlsx", "People", "Profile ID")
    assert got == [
        Row(4, ID1, None),
        Row(5, None, BLANK),
        Row(6, None, f"the cell holds the number 12345, {CONVERTED}"),
        Row(7, None, f"the cell holds a date (2024-01-02), {CONVERTED}"),
        Row(8, None, "no 'profile_id' value"),
    ]
    assert opened(path, sheet="Other")[1] == ok((4, ID2))
    assert (
        refused(path, sheet="Nope")
        == f"'{path}' has no sheet 'Nope'; its sheets: 'People', 'Other'"
    )


def test_ods(tmp_path: Path) -> None:
    path = write_ods(tmp_path / "a.ods", {"S": [["profile_id"], [ID1], [7.5]]})
    info, got = opened(path)
    assert (info.format, info.sheet) == ("ods", "S")
    assert got == [Row(2, ID1, None), Row(3, None, f"the cell holds the number 7.5, {CONVERTED}")]


def test_workbooks_that_cannot_be_read(tmp_path: Path) -> None:
    empty = write_xlsx(tmp_path / "empty.xlsx", {"S": []})
    assert refused(empty) == (
        f"sheet 'S' of '{empty}' is empty: expected a header row with a 'profile_id' column"
    )
    fake = tmp_path / "fake.xlsx"
    fake.write_text(f"profile_id\n{ID1}\n")
    assert refused(fake) == (
        f"cannot read '{fake}': it is not a workbook (not a zip file); it looks like CSV text: "
        "pass --input-format csv"
    )
    assert opened(fake, fmt="csv")[1] == ok((2, ID1))
    real = write_xlsx(tmp_path / "real.csv", {"S": [["profile_id"], [ID1]]})
    assert "it is a zip file (a workbook?), not csv text" in refused(real)
    assert opened(real, fmt="xlsx")[1] == ok((2, ID1))
    legacy = tmp_path / "old.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert "legacy Excel .xls or a password-protected workbook" in refused(legacy)


def test_json_array_streamed(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    data = [{"profile_id": ID1}, 7, {"x": 1}, {"profile_id": 3}, {"profile_id": ID2}]
    path.write_text(json.dumps(data, indent=2))
    info, got = opened(path)
    assert info.format == "json"
    assert got == [
        Row(1, ID1, None),
        Row(2, None, "not a JSON object"),
        Row(3, None, "no 'profile_id' value"),
        Row(4, None, "'profile_id' is not a string"),
        Row(5, ID2, None),
    ]
    gz = tmp_path / "b.json.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert opened(gz)[1] == got


def test_json_lines_named_json_are_read_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(f'{{"profile_id": "{ID1}"}}\n{{"profile_id": "{ID2}"}}\n')
    info, got = opened(path)
    assert info.format == "jsonl"
    assert got == ok((1, ID1), (2, ID2))


def test_json_array_cut_short_keeps_the_rows_before(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(f'[{{"profile_id": "{ID1}"}}, {{"profile_id": "{ID2}"}}, {{"profile_id": "')
    got: list[Row] = []
    with (
        pytest.raises(InputError) as caught,
        open_rows(str(path), fmt=None, id_field="profile_id") as rows,
    ):
        got.extend(rows)
    assert got == ok((1, ID1), (2, ID2))
    assert (
        str(caught.value) == f"cannot read '{path}': the JSON array is cut short (after element 2)"
    )


def test_json_array_on_stdin() -> None:
    data = json.dumps([{"profile_id": ID1}]).encode()
    with open_rows("-", fmt=None, id_field="profile_id", stdin=io.BytesIO(data)) as rows:
        assert rows.info.format == "json"
        assert list(rows) == ok((1, ID1))


def test_dry_run_info_report(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress(codecs.BOM_UTF8 + f"PROFILE_ID|x\n{ID1}|y\n".encode()))
    info, _ = opened(path)
    assert info.as_report() == {
        "format": "csv (gzip)",
        "encoding": "UTF-8 with BOM",
        "delimiter": "|",
        "sheet": None,
        "sheet_hidden": False,
        "header": None,
        "header_row": 1,
        "headerless": False,
        "id_column": "PROFILE_ID",
    }


def test_dry_run_says_what_it_understood(tmp_path: Path) -> None:
    src = tmp_path / "export.txt"
    text = f"Name;Profile ID;Email\r\nA;{ID1};a@x\r\n;;\r\nB;{ID2};b@x\r\n"
    src.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    shown = run_cli("worker-tokens", str(src), "--dry-run", "--log-format", "console", env={})
    assert shown.exit_code == 0, shown.stderr
    for line in (
        "  format:         csv",
        "  encoding:       UTF-16 LE with BOM",
        "  delimiter:      ;",
        "  ID column:      Profile ID",
        "  blank rows:     1 (skipped)",
        "  would send:     2 calls",
    ):
        assert line in shown.stderr
    res = run_cli("worker-tokens", str(src), "--dry-run", "--log-format", "json", env={})
    assert res.exit_code == 0, res.stderr
    assert res.event("id_field_matched") == {
        **res.event("id_field_matched"),
        "id_field": "profile_id",
        "column": "Profile ID",
    }
    report = res.event("dry_run")
    assert (report["format"], report["delimiter"], report["blank"], report["valid"]) == (
        "csv",
        ";",
        1,
        2,
    )


def test_keep_columns_in_every_format(tmp_path: Path) -> None:
    semi = tmp_path / "a.csv"
    semi.write_text(f"Name;Profile ID\nDoe;{ID1}\nSmith;\n")
    book = write_xlsx(tmp_path / "a.xlsx", {"S": [["Name", "profile_id"], ["Doe", ID1], [7, 8]]})
    array = tmp_path / "a.json"
    array.write_text(json.dumps([{"profile_id": ID1, "Name": "Doe"}, {"Name": "Smith"}]))
    for path in (semi, book, array):
        with open_rows(str(path), fmt=None, id_field="profile_id", keep_columns=("Name",)) as rows:
            got = [row.columns for row in rows if row.problem != BLANK]
        assert got[0] == {"Name": "Doe"}, path
    with pytest.raises(InputError) as caught:
        opened(book, keep_columns=("Team",))  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"--keep-columns: sheet 'S' of '{book}' has no 'Team' column; columns found: Name, profile_id"
    )
