"""The streaming input reader: every format, encoding and damage case, with exact rows/messages."""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

import pytest

from batch.engine._errors import InputError
from batch.input._formats import BLANK, LINE_LIMIT
from batch.input._reader import Format, Row, guess_format, open_rows

SAMPLES = Path(__file__).parents[2] / "sample_inputs"
NO_ID = "no 'profile_id' value"
UNBALANCED = "lines: unbalanced quote?)"
LONE_SURROGATE = "not valid Unicode (a lone surrogate)"


def read(
    source: str, fmt: Format | None = None, id_field: str = "profile_id", *, blanks: bool = False
) -> list[Row]:
    """The rows read; blank rows (counted, never recorded) only when `blanks`."""
    with open_rows(source, fmt=fmt, id_field=id_field) as rows:
        return [row for row in rows if blanks or row.problem != BLANK]


def read_stdin(data: bytes, fmt: Format | None = None) -> list[Row]:
    with open_rows("-", fmt=fmt, id_field="profile_id", stdin=io.BytesIO(data)) as rows:
        return [row for row in rows if row.problem != BLANK]


def write(tmp_path: Path, name: str, data: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def ok(*pairs: tuple[int, str]) -> list[Row]:
    return [Row(line, value, None) for line, value in pairs]


def failing(source: str, fmt: Format | None = None, id_field: str = "profile_id") -> str:
    with pytest.raises(InputError) as caught:
        read(source, fmt, id_field)
    assert caught.value.exit_code == 2
    return str(caught.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("dir.jsonl/a.jsonl", "jsonl"),
        ("a.ndjson.gz", "jsonl"),
        ("a.txt", None),
        ("a.gz", None),
        ("-", None),
    ],
)
def test_guess_format(name: str, expected: Format | None) -> None:
    assert guess_format(name) == expected


def test_csv_extra_columns_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "email,profile_id,name\nx@y,id-1,X\nz@y, ID-2 ,Z,extra\n")
    assert read(path) == ok((2, "id-1"), (3, " ID-2 "))


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfprofile_id,n\nid-1,a\n\xe2\x82\xac,b\n",
        b"profile_id,n\r\nid-1,a\r\n\xe2\x82\xac,b\r\n",
        b"\xef\xbb\xbf profile_id ,n\r\nid-1,a\r\n\xe2\x82\xac,b",
    ],
    ids=["bom", "crlf", "bom-crlf-spaced-header-no-final-newline"],
)
def test_csv_bom_crlf(tmp_path: Path, data: bytes) -> None:
    assert read(write(tmp_path, "a.csv", data)) == ok((2, "id-1"), (3, "€"))


def test_csv_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "\n  \nprofile_id,n\n\nid-1,a\n \t\n\r\nid-2,b\n\n")
    assert read(path) == ok((5, "id-1"), (8, "id-2"))


def test_csv_quoted_comma_and_newline(tmp_path: Path) -> None:
    data = 'profile_id,name\n"id-1","Doe, Jane"\nid-2,"two\nlines\r\nhere"\n"id\n3",x\nid-4,y\n'
    assert read(write(tmp_path, "a.csv", data)) == ok(
        (2, "id-1"), (3, "id-2"), (6, "id\n3"), (8, "id-4")
    )


def test_csv_short_rows_and_empty_values(tmp_path: Path) -> None:
    data = 'name,dept,profile_id\na,b,id-1\na,b\na\na,b,\na,b,   \na,b,""\na,b,id-2\n'
    assert read(write(tmp_path, "a.csv", data)) == [
        Row(2, "id-1", None),
        Row(3, None, f"{NO_ID} (the row stops at column 2)"),
        Row(4, None, f"{NO_ID} (the row stops at column 1)"),
        Row(5, None, NO_ID),
        Row(6, None, NO_ID),
        Row(7, None, NO_ID),
        Row(8, "id-2", None),
    ]


def test_csv_one_column_blank_lines_are_counted_and_a_quoted_empty_id_is_invalid(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "a.csv", 'profile_id\nid-1\n\n  \n""\nid-2\n')
    assert read(path, blanks=True) == [
        Row(2, "id-1", None),
        Row(3, None, BLANK),
        Row(4, None, BLANK),
        Row(5, None, NO_ID),
        Row(6, "id-2", None),
    ]


def test_csv_rows_of_empty_fields_are_blank(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "name,profile_id\n,\n , \nx,\n,id-1\n")
    assert read(path, blanks=True) == [
        Row(2, None, BLANK),
        Row(3, None, BLANK),
        Row(4, None, NO_ID),
        Row(5, "id-1", None),
    ]


def test_csv_other_id_field(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "profile_id,worker\nid-1,w-1\nid-2,\n")
    assert read(path, id_field="worker") == [Row(2, "w-1", None), Row(3, None, "no 'worker' value")]


def test_csv_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'email, id,,"multi\nline"\nx,1\n')
    assert failing(path) == (
        f"'{path}' has no 'profile_id' column; columns found: email, id, \"\", multi\\nline"
    )


@pytest.mark.parametrize("name", ["Profile_ID", "Profile ID", "profileId", "PROFILE-ID"])
def test_csv_id_column_matches_loosely(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, "a.csv", f"email,{name}\nx,id-1\n")
    with open_rows(path, fmt=None, id_field="profile_id") as rows:
        assert rows.info.id_column == name
        assert rows.info.id_matched_loosely
        assert list(rows) == ok((2, "id-1"))


def test_csv_exact_match_wins_over_a_loose_one(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "Profile ID,profile_id\nx,id-1\n")
    with open_rows(path, fmt=None, id_field="profile_id") as rows:
        assert not rows.info.id_matched_loosely
        assert list(rows) == ok((2, "id-1"))


def test_csv_two_loose_matches_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "Profile ID,profile-id\nx,id-1\n")
    assert failing(path) == (
        f"'{path}' has 2 columns that could be 'profile_id': Profile ID and profile-id; "
        "pass --id-field with the one to use"
    )


def test_csv_no_match_proposes_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "Name,Profile Nr,Email\nx,id-1,y\n")
    assert failing(path) == (
        f"'{path}' has no 'profile_id' column; columns found: Name, Profile Nr, Email; "
        "pass --id-field 'Profile Nr' if that is it"
    )


@pytest.mark.parametrize("data", [b"", b"\n\r\n  \n", b"\xef\xbb\xbf"])
def test_csv_empty(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "a.csv", data)
    assert failing(path) == f"'{path}' is empty: expected a header row with a 'profile_id' column"


@pytest.mark.parametrize("data", ["profile_id,email", "profile_id,email\n\n\n"])
def test_csv_header_only_gives_no_rows(tmp_path: Path, data: str) -> None:
    assert read(write(tmp_path, "a.csv", data)) == []


def test_csv_unreadable_header(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", '\n"profile_id,email\n')
    assert failing(path) == f"cannot read '{path}': header row at line 2: unterminated quoted field"


def test_csv_bad_quoting_costs_only_its_record(tmp_path: Path) -> None:
    data = 'profile_id,n\n"id-1"x,a\nid-2,b\nid-3,"open\nid-4,c\n'
    assert read(write(tmp_path, "a.csv", data)) == [
        Row(2, None, "malformed quoted field"),
        Row(3, "id-2", None),
        Row(4, None, "unterminated quoted field"),
    ]


def test_csv_not_utf8_whose_encoding_cannot_be_told_is_refused_before_any_row(
    tmp_path: Path,
) -> None:
    data = b"profile_id,name\nid-\xff1,a\nid-2,b\xfe\xc3\nid-3,c\n"
    message = failing(write(tmp_path, "a.csv", data))
    assert message.startswith(f"cannot tell the encoding of '{tmp_path}/a.csv': it is not UTF-8")
    assert "--encoding" in message


@pytest.mark.parametrize("name", ["a.csv", "a.jsonl"])
def test_a_byte_that_is_not_utf8_past_the_sample_stops_the_reading_at_its_line(
    tmp_path: Path, name: str
) -> None:
    """The first 64 KiB decide the encoding; a later byte that is not UTF-8 is never read as
    UTF-8 (nor replaced): the rows before its line are read, then the reading stops."""
    head = "profile_id,name\n" if name == "a.csv" else ""
    row = "id-{},x\n" if name == "a.csv" else '{{"profile_id": "id-{}"}}\n'
    body = "".join(row.format(f"{i:08}") for i in range(5000)).encode()
    assert len(body) > 1 << 16
    bad = b"id-x,Ren\xe9e\n" if name == "a.csv" else b'{"profile_id": "id-x", "n": "\xe9"}\n'
    path = write(tmp_path, name, head.encode() + body + bad + b"id-z,z\n")
    got: list[Row] = []
    with (
        pytest.raises(InputError) as caught,
        open_rows(path, fmt=None, id_field="profile_id") as rows,
    ):
        got.extend(rows)
    line = 5000 + bool(head) + 1
    assert len(got) == 5000
    assert got[-1].line == line - 1
    assert str(caught.value) == (
        f"cannot read '{path}': line {line:,} is not valid UTF-8 (byte 0xE9); pass --encoding "
        "with the file's encoding (e.g. --encoding cp1252)"
    )


def test_csv_nul_byte(tmp_path: Path) -> None:
    data = b'profile_id,name\nid\x001,a\n"id\x002",b\nid-3,c\x00\nid-4,d\n'
    assert read(write(tmp_path, "a.csv", data)) == [
        Row(2, None, "contains a NUL byte"),
        Row(3, None, "contains a NUL byte"),
        Row(4, "id-3", None),
        Row(5, "id-4", None),
    ]


def test_csv_long_field_and_long_line(tmp_path: Path) -> None:
    limit = csv.field_size_limit()
    long_field = "x" * (limit + 1)
    data = (
        f"profile_id,n\n{long_field},a\nid-2,{long_field}\n"
        f'id-3,"{long_field}\nid-4,b\n{"y" * LINE_LIMIT},c\nid-5,d\n'
    )
    assert read(write(tmp_path, "a.csv", data)) == [
        Row(2, None, f"field too long (over {limit} characters)"),
        Row(3, None, f"field too long (over {limit} characters)"),
        Row(4, None, f"field too long (over {limit} characters)"),
        Row(5, "id-4", None),
        Row(6, None, "line too long"),
        Row(7, "id-5", None),
    ]


def test_csv_open_quote_swallowing_lines_is_named(tmp_path: Path) -> None:
    limit = csv.field_size_limit()
    lines = limit // 10  # "open\n" and these lines of 10 characters go over the limit
    data = 'profile_id,n\nid-1,"open\n' + "123456789\n" * lines + "id-2,b\n"
    assert read(write(tmp_path, "a.csv", data)) == [
        Row(2, None, f"field too long (over {limit} characters in {lines + 1} {UNBALANCED}"),
        Row(lines + 3, "id-2", None),
    ]


JSONL = b"\n".join(
    [
        b'{"profile_id": "id-1", "x": [1]}',
        b"",
        b" \t\r",
        b'{"profile_id": " ID-2 "}\r',
        b"not json",
        b'["profile_id"]',
        b'"id-3"',
        b"{}",
        b'{"profile_id": null}',
        b'{"profile_id": "  "}',
        b'{"profile_id": 7}',
        b'{"profile_id": {"id": "x"}}',
        b'{"profile_id": "id-\\udcff"}',
        b'{"profile_id": "id\\u0000"}',
        b"[" * 100_000,
        b'{"profile_id": "id-4"}',
    ]
)
JSONL_ROWS = [
    Row(1, "id-1", None),
    Row(4, " ID-2 ", None),
    Row(5, None, "not valid JSON"),
    Row(6, None, "not a JSON object"),
    Row(7, None, "not a JSON object"),
    Row(8, None, NO_ID),
    Row(9, None, NO_ID),
    Row(10, None, NO_ID),
    Row(11, None, "'profile_id' is not a string"),
    Row(12, None, "'profile_id' is not a string"),
    Row(13, None, LONE_SURROGATE),
    Row(14, None, "contains a NUL byte"),
    Row(15, None, "not valid JSON"),
    Row(16, "id-4", None),
]


@pytest.mark.parametrize("name", ["a.jsonl", "a.ndjson", "a.txt"])
def test_jsonl_every_problem(tmp_path: Path, name: str) -> None:
    assert read(write(tmp_path, name, JSONL)) == JSONL_ROWS


def test_jsonl_bom_and_long_line(tmp_path: Path) -> None:
    data = (
        b'\xef\xbb\xbf{"profile_id": "id-1"}\n' + b"x" * LINE_LIMIT + b'\n{"profile_id": "id-2"}\n'
    )
    assert read(write(tmp_path, "a.jsonl", data)) == [
        Row(1, "id-1", None),
        Row(2, None, "line too long"),
        Row(3, "id-2", None),
    ]


@pytest.mark.parametrize("data", [b"", b"\n \n"])
def test_jsonl_empty_is_refused_like_an_empty_csv(tmp_path: Path, data: bytes) -> None:
    # A failed export is often an empty file: a cron job must not report it as a success.
    path = write(tmp_path, "a.jsonl", data)
    assert failing(path) == f"'{path}' is empty: expected JSON lines with a 'profile_id' key"


def test_fmt_overrides_the_name(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", '{"profile_id": "id-1"}\n')
    assert read(path, fmt="jsonl") == ok((1, "id-1"))
    path = write(tmp_path, "b.jsonl", "profile_id\nid-1\n")
    assert read(path, fmt="csv") == ok((2, "id-1"))


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.csv.gz", b"profile_id\nid-1\n", ok((2, "id-1"))),
        ("a.jsonl.gz", b'{"profile_id": "id-1"}\n', ok((1, "id-1"))),
        ("a.gz", b'\n{"profile_id": "id-1"}\n', ok((2, "id-1"))),
        ("a.dat", b"\xef\xbb\xbfprofile_id\r\nid-1\r\n", ok((2, "id-1"))),
    ],
)
def test_gzip(tmp_path: Path, name: str, data: bytes, expected: list[Row]) -> None:
    assert read(write(tmp_path, name, gzip.compress(data))) == expected


def test_gzip_truncated_mid_stream(tmp_path: Path) -> None:
    body = "".join(f"id-{line:07d}\n" for line in range(2, 200_000)).encode()
    compressed = gzip.compress(b"profile_id\n" + body)
    path = write(tmp_path, "a.csv.gz", compressed[: len(compressed) // 2])
    got: list[Row] = []
    with (
        pytest.raises(InputError) as caught,
        open_rows(path, fmt=None, id_field="profile_id") as rows,
    ):
        got.extend(rows)
    assert len(got) > 1000
    assert got == [Row(line, f"id-{line:07d}", None) for line in range(2, len(got) + 2)]
    assert (
        str(caught.value)
        == f"cannot read '{path}': gzip data is truncated (after line {got[-1].line})"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(b"profile_id\nid-1\n")[:15], "gzip data is truncated"),
        (b"\x1f\x8b\x09" + bytes(20), "gzip data is corrupt (Unknown compression method)"),
    ],
)
def test_gzip_broken_at_the_start(tmp_path: Path, data: bytes, reason: str) -> None:
    path = write(tmp_path, "a.csv.gz", data)
    assert failing(path) == f"cannot read '{path}': {reason}"


@pytest.mark.parametrize("data", [b"profile_id\nid-1\n", b""])
def test_gz_name_but_not_gzip(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "a.csv.gz", data)
    assert failing(path) == f"cannot read '{path}': not a gzip file"


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"profile_id\nid-1\n", None, ok((2, "id-1"))),
        (b'\r\n  {"profile_id": "id-1"}\n', None, ok((2, "id-1"))),
        (b'\xef\xbb\xbf{"profile_id": "id-1"}\n', None, ok((1, "id-1"))),
        (b"profile_id\nid-1\n", "csv", ok((2, "id-1"))),
        (
            b'profile_id\n{"profile_id": "id-1"}\n',
            "jsonl",
            [Row(1, None, "not valid JSON"), Row(2, "id-1", None)],
        ),
        (gzip.compress(b'{"profile_id": "id-1"}\n'), None, ok((1, "id-1"))),
        (gzip.compress(b"profile_id\nid-1\n"), "csv", ok((2, "id-1"))),
    ],
)
def test_stdin(data: bytes, fmt: Format | None, expected: list[Row]) -> None:
    assert read_stdin(data, fmt) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\n", "standard input is empty: expected a header row with a 'profile_id' column"),
        (
            b"id,x\n1\n",
            "standard input has no 'profile_id' column; columns found: id, x"
            " (the format was guessed as CSV; pass --input-format if it is not)",
        ),
        (
            b"id,\xffx\n1\n",
            "cannot tell the encoding of standard input: it is not UTF-8, and its byte 0xFF "
            "(line 1) is 'ÿ' in cp1252, 'я' in cp1251, 'ˇ' in mac-roman; pass --encoding with the "
            "right one (e.g. --encoding cp1252)",
        ),
        (
            gzip.compress(b"profile_id\nid-1\n")[:12],
            "cannot read standard input: gzip data is truncated",
        ),
    ],
)
def test_stdin_errors_name_standard_input(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_stdin(data)
    assert str(caught.value) == message


def test_stdin_is_not_closed() -> None:
    stdin = io.BytesIO(b"profile_id\nid-1\n")
    with open_rows("-", fmt=None, id_field="profile_id", stdin=stdin) as rows:
        assert next(rows) == Row(2, "id-1", None)
    assert not stdin.closed


def test_leaving_early_closes_the_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "profile_id\nid-1\nid-2\n")
    with open_rows(path, fmt=None, id_field="profile_id") as rows:
        assert next(rows) == Row(2, "id-1", None)
    assert list(rows) == []


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    assert failing(missing) == f"cannot read '{missing}': no such file"
    assert failing(str(tmp_path)) == f"cannot read '{tmp_path}': it is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "profile_id\n")
    os.chmod(path, 0)
    assert failing(path) == f"cannot read '{path}': permission denied"


def test_unknown_format(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "profile_id\n")
    message = failing(path, fmt="xml")  # type: ignore[arg-type]
    assert message == "unknown input format 'xml': expected one of csv, tsv, jsonl, json, xlsx, ods"


def test_sample_inputs() -> None:
    csv_rows = read(str(SAMPLES / "profiles.csv"))
    jsonl_rows = read(str(SAMPLES / "profiles.jsonl"))
    assert [row.line for row in csv_rows] == list(range(2, 21))
    assert [row.line for row in jsonl_rows] == list(range(1, 20))
    assert [(r.line, r.problem) for r in csv_rows if r.problem] == [(8, NO_ID)]
    assert [(r.line, r.problem) for r in jsonl_rows if r.problem] == [
        (7, NO_ID),
        (17, "'profile_id' is not a string"),
    ]
    assert csv_rows[3].value is not None
    assert csv_rows[3].value == jsonl_rows[3].value
    assert csv_rows[3].value.startswith("  ")
    assert csv_rows[14].value == csv_rows[1].value
    assert csv_rows[9].value == "not-a-uuid"
    assert [row.problem for row in read(str(SAMPLES / "clean.csv"))] == [None] * 5
