"""--resume over invalid rows, foreign files and a disk that fills up: for every job."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from batch.output._file import OutputFile
from tests.conftest import StartSim
from tests.helpers import ENV, JOBS, CliResult, job_args, new_ids, read_jsonl, run_cli

pytestmark = pytest.mark.parametrize("job", JOBS)


def run(job: str, api_url: str, src: Path, out: Path, *extra: str) -> CliResult:
    return run_cli(job, str(src), "-o", str(out), "--base-url", api_url, "--rate", "500",
                   "--log-format", "json", *job_args(job), *extra, env=ENV)  # fmt: skip


def test_invalid_rows_are_recorded_once_and_a_fixed_input_exits_0(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    api = sim(rate=None)
    ids = new_ids(3)
    src = tmp_path / "in.csv"
    src.write_text(f"profile_id\n{ids[0]}\nnot-a-uuid\n{ids[1]}\n{ids[2]}\n")
    out, errors = tmp_path / "out.jsonl", tmp_path / "failed.csv"
    assert run(job, api.base_url, src, out).exit_code == 1

    again = run(job, api.base_url, src, out, "--resume", "--errors", str(errors))
    assert again.exit_code == 1  # the input still has the bad row
    summary = again.event("run_finished")
    assert (summary["invalid"], summary["skipped"], summary["requests"]) == (1, 3, 0)
    assert [r["line"] for r in read_jsonl(out) if r["status"] == "error"] == [3]  # recorded once
    assert errors.read_text().splitlines()[1].startswith("not-a-uuid,0,3,invalid_input,")

    # The admin fixes the file: a new, different bad value on the same line is a new record,
    src.write_text(f"profile_id\n{ids[0]}\nBADBAD\n{ids[1]}\n{ids[2]}\n")
    third = run(job, api.base_url, src, out, "--resume")
    assert third.exit_code == 1
    assert [r["profile_id"] for r in read_jsonl(out) if r["status"] == "error"] == [
        "not-a-uuid",
        "BADBAD",
    ]
    # ...and once the input is clean, the nightly run is green again.
    src.write_text(f"profile_id\n{ids[0]}\n{ids[1]}\n{ids[2]}\n")
    fourth = run(job, api.base_url, src, out, "--resume")
    assert fourth.exit_code == 0, fourth.stderr


def test_resume_refuses_a_file_that_is_not_a_results_file(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    api = sim(rate=None)
    export = tmp_path / "export.csv"
    original = "profile_id,email\n" + "".join(f"{pid},x@example.com\n" for pid in new_ids(3))
    export.write_text(original)
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + "\n".join(new_ids(2)) + "\n")
    res = run(job, api.base_url, src, export, "--resume")
    assert res.exit_code == 2
    assert "starts with 'profile_id,email', not this job's columns" in res.stderr
    assert export.read_text() == original  # untouched
    assert api.stats.requests == 0


@pytest.mark.parametrize("option", ["--metrics-file", "--log-file", "--errors"])
def test_no_other_file_may_be_the_results_file(tmp_path: Path, option: str, job: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + new_ids(1)[0] + "\n")
    out = tmp_path / "tokens.csv"
    res = run_cli(job, str(src), "--simulate", "-o", str(out), option, f"{tmp_path}/./tokens.csv",
                  "--log-format", "json")  # fmt: skip
    assert res.exit_code == 2
    assert "is the same file as --output" in res.stderr


def test_a_full_disk_stops_the_run_cleanly(
    sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    api = sim(rate=None)
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + "\n".join(new_ids(30)) + "\n")
    out = tmp_path / "out.jsonl"
    real_write = OutputFile.write
    calls = []

    def filling_up(self: OutputFile, text: str) -> None:
        calls.append(text)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, text)

    monkeypatch.setattr(OutputFile, "write", filling_up)
    res = run(job, api.base_url, src, out, "--concurrency", "2")
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert reason.startswith("cannot write the results to ")
    assert "(No space left on device)" in reason
    summary = res.event("run_finished")
    assert summary["ok"] == 5
    assert summary["ok"] + summary["not_attempted"] == 30
    assert len(read_jsonl(out)) == 5
    assert "Traceback" not in res.stderr


def test_resume_refuses_json_lines_of_another_kind(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None)
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "abc", "status": "ok"}\n')
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + new_ids(1)[0] + "\n")
    res = run(job, api.base_url, src, other, "--resume")
    assert res.exit_code == 2
    assert "holds no results record in its 1 line(s)" in res.stderr
    assert api.stats.requests == 0


def test_a_damaged_csv_line_costs_only_itself(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None)
    ids = new_ids(4)
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + "\n".join(ids) + "\n")
    out = tmp_path / "out.csv"
    assert run(job, api.base_url, src, out).exit_code == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join([*lines[:2], '"oops, a stray quote\n', *lines[2:]]))
    for _ in range(2):  # the damage must not spread to what is appended after it
        again = run(job, api.base_url, src, out, "--resume")
        assert again.exit_code == 0, again.stderr
        assert again.event("run_finished")["skipped"] == 4
        assert again.event("resume")["unreadable_lines"] == 1
    assert api.stats.requests == 4


def test_a_last_record_without_its_newline_is_kept(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None)
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + "\n".join(new_ids(3)) + "\n")
    out = tmp_path / "out.jsonl"
    assert run(job, api.base_url, src, out).exit_code == 0
    out.write_bytes(out.read_bytes().rstrip(b"\n"))  # as an editor might save it
    again = run(job, api.base_url, src, out, "--resume")
    assert again.exit_code == 0
    assert again.event("run_finished")["skipped"] == 3
    assert api.stats.requests == 3
    assert len(read_jsonl(out)) == 3
