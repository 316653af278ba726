"""--keep-columns, --limit and the achieved rate, as a user meets them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from batch.engine import Stats
from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json")


def hr_export(path: Path, ids: list[str]) -> Path:
    path.write_text(
        "employee_no,profile_id,email,name\n"
        + "".join(f"E{n:03d},{pid},user{n}@example.com,User {n}\n" for n, pid in enumerate(ids))
        + 'E999,not-a-uuid,bad@example.com,"Bad, Row"\n'
    )
    return path


def test_keep_columns_go_into_jsonl_records_and_the_csv_errors_file_but_not_logs(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(4)
    api = sim(rate=None, unknown_profiles={ids[1]})
    src = hr_export(tmp_path / "in.csv", ids)
    out, failed = tmp_path / "t.jsonl", tmp_path / "failed.csv"
    res = run_cli(
        "worker-tokens",
        str(src),
        "-o",
        str(out),
        "--errors",
        str(failed),
        "--keep-columns",
        "email,name,employee_no",
        "--base-url",
        api.base_url,
        *FAST,
        "--log-level",
        "debug",
        env=ENV,
    )
    assert res.exit_code == 1
    by_line = {r["line"]: r for r in read_jsonl(out)}
    assert by_line[2]["input"] == {
        "email": "user0@example.com",
        "name": "User 0",
        "employee_no": "E000",
    }
    assert by_line[6]["input"]["name"] == "Bad, Row"  # quoted, with its comma
    assert list(by_line[2])[-1] == "input"  # after the fixed fields
    assert "example.com" not in res.stderr
    assert "E001" not in res.stderr
    with failed.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda r: int(r["line"]))  # written as they complete
    assert [r["line"] for r in rows] == ["3", "6"]
    assert list(rows[0])[-3:] == ["email", "name", "employee_no"]
    assert rows[0]["email"] == "user1@example.com"
    # the errors file is valid input and carries the columns on
    again = run_cli(
        "worker-tokens",
        str(failed),
        "-o",
        str(tmp_path / "again.csv"),
        "--keep-columns",
        "email",
        "--base-url",
        api.base_url,
        *FAST,
        env=ENV,
    )
    assert again.exit_code == 1
    with (tmp_path / "again.csv").open(newline="") as handle:
        records = list(csv.DictReader(handle))
    assert sorted(r["email"] for r in records) == ["bad@example.com", "user1@example.com"]
    assert list(records[0])[-1] == "email"


def test_keep_columns_from_jsonl_and_a_resume_with_other_columns_is_refused(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(2)
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(
            json.dumps({"profile_id": p, "email": f"u{n}@x.org", "n": n}) + "\n"
            for n, p in enumerate(ids)
        )
    )
    out = tmp_path / "t.csv"
    base = ("worker-tokens", str(src), "-o", str(out), "--base-url", api.base_url, *FAST)
    assert run_cli(*base, "--keep-columns", "email,n", env=ENV).exit_code == 0
    with out.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    assert [(r["email"], r["n"]) for r in records] == [("u0@x.org", "0"), ("u1@x.org", "1")]
    refused = run_cli(*base, "--resume", env=ENV)
    assert refused.exit_code == 2
    assert "written with --keep-columns email,n" in refused.event("usage_error")["message"]
    assert run_cli(*base, "--resume", "--keep-columns", "email,n", env=ENV).exit_code == 0


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("mail", "has no 'mail' column; columns found: employee_no, profile_id, email, name"),
        ("status", "'status' is a column of the records already"),
        ("email,,name", "none empty"),
    ],
)
def test_keep_columns_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, columns: str, message: str
) -> None:
    src = hr_export(tmp_path / "in.csv", new_ids(1))
    res = run_cli(
        "worker-tokens",
        str(src),
        "--keep-columns",
        columns,
        "--simulate",
        "-o",
        str(tmp_path / "o.jsonl"),
        "--log-format",
        "console",
        env={},
    )
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 4  # click's usage lines, or one of ours


def test_limit_is_a_canary_and_resume_finishes_the_rest(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    ids = new_ids(6)
    src = hr_export(tmp_path / "in.csv", ids)
    out = tmp_path / "t.jsonl"
    base = ("worker-tokens", str(src), "-o", str(out), "--base-url", api.base_url, *FAST)
    res = run_cli(*base, "--limit", "2", "--rate", "5", env=ENV)
    assert res.exit_code == 1  # the invalid row: judged like any row, wherever it is
    assert api.stats.requests == 2
    records = read_jsonl(out)
    assert [r["profile_id"] for r in records[:2]] == ids[:2]  # the first two, in order
    assert [r["error"]["kind"] for r in records[2:]] == ["invalid_input"]
    done = res.event("run_finished")
    assert (done["ok"], done["invalid"], done["not_attempted"], done["limit"]) == (2, 1, 4, 2)
    assert done["rest_estimated_s"] == 0.6  # as --dry-run says: 4 starts, 1.01/5 s apart
    assert "--limit" not in done["resume"]
    again = run_cli(*base, "--resume", env=ENV)
    assert again.exit_code == 1  # the invalid row
    finished = again.event("run_finished")
    assert (finished["ok"], finished["skipped"], finished["invalid"]) == (4, 2, 1)
    assert api.stats.requests == 6
    assert [r["line"] for r in read_jsonl(out) if r["status"] == "error"] == [8]  # once


def test_dry_run_with_limit_says_what_is_left(tmp_path: Path) -> None:
    src = hr_export(tmp_path / "in.csv", new_ids(5))
    res = run_cli("worker-tokens", str(src), "--dry-run", "--limit", "3", *FAST, env={})
    report = res.event("dry_run")
    assert (report["would_send"], report["beyond_limit"], report["valid"]) == (3, 2, 5)


def test_achieved_rate_never_above_the_limit_even_for_a_short_burst() -> None:
    stats = Stats()
    # 40/s: two at once (the pacer's catch-up burst), then 1.01/40 s apart: 8 starts
    starts = [0.0, 0.0, *(k * 1.01 / 40 for k in range(1, 7))]
    for at in starts:
        stats.note_start(at)
    assert (stats.requests - 1) / (starts[-1] - starts[0]) > 40  # the old figure: 46/s
    rate = stats.achieved_rate()
    assert rate is not None
    assert rate <= 40
    assert stats.peak_per_second == 8


def test_peak_counts_the_busiest_rolling_second() -> None:
    stats = Stats()
    for at in (0.0, 0.5, 0.99, 1.0, 1.2, 1.6, 2.5):
        stats.note_start(at)
    assert stats.peak_per_second == 4  # 0.5, 0.99, 1.0, 1.2 (0.0 left the window at 1.0)
    assert stats.achieved_rate() == pytest.approx(7 / 3.5)


def test_overwrite_with_limit_keeps_the_previous_tokens_until_a_whole_run(
    sim: StartSim, tmp_path: Path
) -> None:
    """A canary (--limit) does not replace the records of the IDs it did not get to: the
    tokens --overwrite moved to .prev stay there, and a finishing --resume removes them."""
    api = sim(rate=None)
    ids = new_ids(6)
    src = hr_export(tmp_path / "in.csv", ids)
    out = tmp_path / "t.jsonl"
    prev = tmp_path / "t.jsonl.prev"
    base = ("worker-tokens", str(src), "-o", str(out), "--base-url", api.base_url, *FAST)
    assert run_cli(*base, env=ENV).exit_code == 1  # the invalid row
    before = out.read_text()
    res = run_cli(*base, "--overwrite", "--limit", "2", env=ENV)
    assert res.exit_code == 1  # the invalid row
    assert prev.read_text() == before  # the other four tokens are still on disk
    assert res.event("previous_records_kept")["path"] == str(prev)
    assert run_cli(*base, "--resume", env=ENV).exit_code == 1
    assert not prev.exists()
