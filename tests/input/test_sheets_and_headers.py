"""Exports as they really come: which sheet, where the header is, lists of IDs, kept columns
matched loosely, and the total a progress bar shows."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from batch.engine import InputError
from batch.input import InputInfo, Row, open_rows
from batch.input import _total as total_module
from batch.input._reader import Reading
from jobs import WORKER_TOKENS
from tests.spreadsheets import Cell, set_active_tab, write_ods, write_workbook

ID1 = "0b5e4bd2-6f0e-4c1a-9d55-0c8a1f3e7a01"
ID2 = "1c6f5ce3-7a1f-4d2b-8e66-1d9b2a4f8b02"
ID3 = "2d7a6df4-8b2a-4e3c-9f77-2eac3b5a9c03"
TITLE = "Workers export - 2026-12-03"


def read(path: Path | str, **options: object) -> tuple[InputInfo, list[Row], int | None]:
    reading: Reading = {"parse_key": WORKER_TOKENS.parse_key, **options}  # type: ignore[typeddict-item]
    with open_rows(str(path), fmt=None, id_field="profile_id", **reading) as rows:
        return rows.info, list(rows), rows.total()


def refused(path: Path | str, **options: object) -> str:
    with pytest.raises(InputError) as caught:
        read(path, **options)
    assert caught.value.exit_code == 2
    return str(caught.value)


def ok(*pairs: tuple[int, str]) -> list[Row]:
    return [Row(line, value, None) for line, value in pairs]


# --- which sheet -----------------------------------------------------------------------------


def test_the_active_sheet_is_read_not_the_first(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "a.xlsx",
        {
            "Old": [["profile_id"], [ID1]],
            "Read me": [["notes"]],
            "Current": [["profile_id"], [ID2]],
        },
        hidden=("Old",),
        active="Current",
    )
    info, rows, _ = read(path)
    assert (info.sheet, info.hidden_sheet, rows) == ("Current", False, ok((2, ID2)))
    assert info.describe() == "sheet 'Current'"


def test_a_hidden_sheet_is_read_only_when_named(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "a.xlsx",
        {"Old": [["profile_id"], [ID1]], "Current": [["profile_id"], [ID2]]},
        hidden=("Old",),
    )
    assert read(path)[1] == ok((2, ID2))
    info, rows, _ = read(path, sheet="Old")
    assert (info.sheet, info.hidden_sheet, rows) == ("Old", True, ok((2, ID1)))
    assert info.describe() == "sheet 'Old' (hidden)"
    assert (
        refused(path, sheet="New")
        == f"'{path}' has no sheet 'New'; its sheets: 'Old' (hidden), 'Current'"
    )


def test_an_active_tab_on_a_hidden_sheet_falls_back_to_the_first_visible(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "a.xlsx",
        {"A": [["x"]], "B": [["profile_id"], [ID1]], "C": [["profile_id"], [ID2]]},
        hidden=("A",),
    )
    set_active_tab(path, 0)  # as some writers leave it
    assert read(path)[0].sheet == "B"
    set_active_tab(path, 2)
    assert read(path)[0].sheet == "C"


def test_no_visible_sheet_needs_sheet(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "a.xlsx", {"A": [["profile_id"], [ID1]], "B": [["x"]]})
    set_active_tab(path, 5)  # out of range: the first visible
    assert read(path)[0].sheet == "A"


def test_a_sheet_without_the_id_column_names_the_visible_sheets(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "a.xlsx",
        {"Summary": [["Team", "Size"]], "lookup": [["profile_id"]], "Workers": [["profile_id"]]},
        hidden=("lookup",),
        active="Summary",
    )
    assert refused(path) == (
        f"sheet 'Summary' of '{path}' has no 'profile_id' column; columns found: Team, Size; "
        "the workbook's visible sheets: 'Summary', 'Workers' (pass --sheet NAME)"
    )


def test_ods_hidden_and_active_sheets(tmp_path: Path) -> None:
    sheets: dict[str, list[list[Cell]]] = {
        "Old": [["profile_id"], [ID1]],
        "A": [["profile_id"], [ID2]],
        "B": [["profile_id"], [ID3]],
    }
    assert read(write_ods(tmp_path / "a.ods", sheets, hidden=("Old",)))[0].sheet == "A"
    assert read(write_ods(tmp_path / "b.ods", sheets, hidden=("Old",), active="B"))[0].sheet == "B"
    assert (
        read(write_ods(tmp_path / "c.ods", sheets, hidden=("Old",), active="Old"))[0].sheet == "A"
    )


# --- where the header is ---------------------------------------------------------------------


def test_title_blank_and_group_rows_above_the_header_are_skipped(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "a.xlsx",
        {
            "W": [
                [TITLE],
                [],
                ["Identity", None, "Contact"],
                ["Profile ID", "Name", "Email"],
                [ID1, "A", "a@x"],
                [ID2, "B", "b@x"],
            ]
        },
        merged={"W": ["A1:C1", "A3:B3"]},
    )
    info, rows, total = read(path, keep_columns=("Name",))
    assert (info.header_row, info.above, info.header()) == (4, 2, "row 4 (3 rows above it skipped)")
    assert rows == [Row(5, ID1, None, {"Name": "A"}), Row(6, ID2, None, {"Name": "B"})]
    assert total == 2
    assert info.describe() == "sheet 'W', header on row 4 (3 rows above it skipped)"


def test_csv_header_below_a_title_decides_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        f"{TITLE}, Berlin\n\nIdentity;;Contact\nProfile ID;Name;Email\n{ID1};A, B;a@x\n"
    )
    info, rows, total = read(path)
    assert (info.delimiter, info.header_row, info.above, rows) == (";", 4, 2, ok((5, ID1)))
    assert total == 1


def test_header_row_forces_the_header(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"About;profile_id\n\nprofile_id;n\n{ID1};x\n")
    assert read(path)[1] == [Row(2, None, ""), Row(3, "n", None), Row(4, "x", None)]  # line 1
    info, rows, _ = read(path, header_row=3)
    assert (info.header_row, info.header_forced, rows) == (3, True, ok((4, ID1)))
    assert info.header() == "line 3 (--header-row; 2 lines above it skipped)"
    assert refused(path, header_row=2) == f"'{path}' line 2 (--header-row) is blank"
    assert (
        refused(path, header_row=9) == f"'{path}' has no line 9 (--header-row): it ends at line 4"
    )
    assert refused(path, header_row=4) == (
        f"'{path}' line 4 (--header-row) has no 'profile_id' column; columns found: {ID1}, x"
    )


def test_header_row_in_a_workbook(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "a.xlsx", {"S": [["profile_id"], ["note"], ["profile_id"], [ID1]]}
    )
    info, rows, total = read(path, header_row=3)
    assert (info.header_row, rows, total) == (3, ok((4, ID1)), 1)


def test_no_header_in_the_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("".join(f"note {n}\n" for n in range(30)) + f"profile_id\n{ID1}\n")
    assert refused(path) == (
        f"'{path}' has no 'profile_id' column; columns found: note 0; none of its first 20 rows "
        "holds it (pass --header-row N if the header is lower)"
    )
    assert read(path, header_row=31)[1] == ok((32, ID1))


def test_the_widest_row_is_listed_when_no_row_holds_the_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"{TITLE}\nName,Profile Nr,Email\nA,1,a@x\n")
    assert refused(path) == (
        f"'{path}' has no 'profile_id' column; columns found: Name, Profile Nr, Email; "
        "pass --id-field 'Profile Nr' if that is it"
    )


# --- lists of IDs ----------------------------------------------------------------------------


def test_a_list_of_ids_without_header_is_read_first_line_included(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text(f"\n {ID1.upper()} \n{ID2}\n\n{ID1}\nnot-an-id\n")
    info, rows, total = read(path)
    assert (info.headerless, info.header_row, info.id_column) == (True, None, "column 1")
    assert info.delimiter is None  # one column: no delimiter to speak of
    assert info.header() == "none: a list of IDs, its first line read as one"
    assert [row.line for row in rows if row.value] == [2, 3, 5, 6]
    assert total == 5  # from the first ID on, blank lines included, as the bar counts them
    assert refused(path, keep_columns=("Name",)) == (
        f"--keep-columns: '{path}' is a list of IDs without a header: no columns"
    )


def test_a_table_without_header_is_read_by_its_one_key_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"Doe;{ID1};x\nRoe;{ID2};y\n")
    info, rows, _ = read(path)
    assert (info.headerless, info.delimiter, info.id_column, rows) == (
        True,
        ";",
        "column 2",
        ok((1, ID1), (2, ID2)),
    )


def test_two_key_columns_are_no_list_of_ids(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"{ID1},{ID2}\n")
    assert "has no 'profile_id' column" in refused(path)


def test_without_the_jobs_key_test_a_first_id_is_a_header(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text(f"{ID1}\n{ID2}\n")
    with (
        pytest.raises(InputError, match="has no 'profile_id' column"),
        open_rows(str(path), fmt=None, id_field="profile_id"),
    ):
        pass


def test_a_workbook_list_of_ids(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "a.xlsx", {"S": [[ID1], [ID2]]})
    info, rows, total = read(path)
    assert (info.headerless, rows, total) == (True, ok((1, ID1), (2, ID2)), 2)
    assert info.describe() == "sheet 'S', no header: a list of IDs"


def test_standard_input_list_of_ids() -> None:
    data = f"{ID1}\r\n{ID2}\r\n".encode()
    reading: Reading = {"parse_key": WORKER_TOKENS.parse_key}
    with open_rows("-", fmt=None, id_field="profile_id", stdin=io.BytesIO(data), **reading) as rows:
        assert rows.info.headerless
        assert list(rows) == ok((1, ID1), (2, ID2))
        assert rows.total() is None


# --- kept columns ----------------------------------------------------------------------------


def test_keep_columns_match_as_the_id_column_does(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"Profile ID,Email,Full Name\n{ID1},a@x,Ann Doe\n")
    rows = read(path, keep_columns=("email", "full_name", "Email"))[1]
    assert rows[0].columns == {"email": "a@x", "full_name": "Ann Doe", "Email": "a@x"}
    both = tmp_path / "b.csv"
    both.write_text(f"profile_id,E-mail,E mail\n{ID1},a,b\n")
    assert refused(both, keep_columns=("email",)) == (
        f"--keep-columns: '{both}' has 2 columns that could be 'email': E-mail and E mail; "
        "name one exactly"
    )
    assert refused(path, keep_columns=("mail",)) == (
        f"--keep-columns: '{path}' has no 'mail' column; columns found: Profile ID, Email, "
        "Full Name"
    )


# --- totals ----------------------------------------------------------------------------------


def test_totals_counted_estimated_or_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "".join(f"{ID1[:-4]}{n:04},name {n}\n" for n in range(3000))
    path = tmp_path / "a.csv"
    path.write_text("title\nprofile_id,name\n" + body)
    with open_rows(str(path), fmt=None, id_field="profile_id") as rows:
        assert (rows.total(), rows.total_estimated) == (3000, False)
    monkeypatch.setattr(total_module, "COUNT_AT_MOST", 1000)  # too big to count: estimated
    with open_rows(str(path), fmt=None, id_field="profile_id") as rows:
        estimate = rows.total()
        assert rows.total_estimated
        assert estimate is not None
        assert abs(estimate - 3000) <= 150
    packed = tmp_path / "a.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    with open_rows(str(packed), fmt=None, id_field="profile_id") as rows:
        estimate = rows.total()
        assert estimate is not None
        assert abs(estimate - 3000) <= 150
    array = tmp_path / "a.json"
    array.write_text(
        "[" + ",".join(f'{{"profile_id": "{ID1}", "n": {n}}}' for n in range(500)) + "]"
    )
    with open_rows(str(array), fmt=None, id_field="profile_id") as rows:
        assert rows.total() == 500
        assert rows.total_estimated
