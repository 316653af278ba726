"""The command line end to end against the simulated API over real loopback HTTP."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import StartSim
from tests.helpers import ENV, JOBS, done_by, job_args, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json")


#: each job's success fields, in record order
FIELDS = {"worker-tokens": ["token", "expires_at"], "revoke-tokens": ["revoked_at"]}


@pytest.mark.parametrize("job", JOBS)
def test_csv_happy_path_writes_one_ok_record_per_id(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    api = sim(rate=None)
    ids = new_ids(6)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    res = run_cli(
        job, str(src), "-o", str(out), "--base-url", api.base_url, *job_args(job), *FAST, env=ENV
    )
    assert res.exit_code == 0, res.stderr
    records = read_jsonl(out)
    assert sorted(r["profile_id"] for r in records) == sorted(ids)
    for record in records:
        assert list(record) == [
            "profile_id", "status", *FIELDS[job], "attempts", "rate_limited", "line", "origin",
        ]  # fmt: skip
        assert len(record["origin"]) == 21  # keyed hashes of the base URL and the token
        assert record["status"] == "ok"
        assert record["attempts"] == 1
        assert record["line"] == ids.index(record["profile_id"]) + 2
        if job == "worker-tokens":
            assert api.stats.issued[record["profile_id"]] == [record["token"]]
        else:
            assert api.stats.workers[record["profile_id"]].active is None
    assert done_by(api, job) == dict.fromkeys(ids, 1)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    summary = res.event("run_finished")
    assert {k: summary[k] for k in ("ok", "failed", "invalid", "duplicates", "requests")} == {
        "ok": 6,
        "failed": 0,
        "invalid": 0,
        "duplicates": 0,
        "requests": 6,
    }


def test_jsonl_input_and_csv_output(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    ids = new_ids(3)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"profile_id": i.upper(), "n": 1}) + "\n" for i in ids))
    out = tmp_path / "out.csv"
    res = run_cli(
        "worker-tokens", str(src), "-o", str(out), "--base-url", api.base_url, *FAST, env=ENV
    )
    assert res.exit_code == 0, res.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == (
        "profile_id,status,token,expires_at,attempts,line,"
        "error_kind,error_http_status,error_message,error_api_req_id,origin,rate_limited"
    )
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(ids)  # lower-cased


def test_stdin_to_stdout(sim: StartSim) -> None:
    api = sim(rate=None)
    ids = new_ids(2)
    data = ("profile_id\n" + "\n".join(ids) + "\n").encode()
    res = run_cli("worker-tokens", "-", "--base-url", api.base_url, *FAST, env=ENV, stdin=data)
    assert res.exit_code == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["line"] for r in sorted(records, key=lambda r: r["line"])] == [2, 3]


@pytest.mark.parametrize("job", JOBS)
def test_invalid_rows_and_duplicates(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None)
    ids = new_ids(3)
    src = tmp_path / "in.csv"
    src.write_text(
        f"profile_id,email\n{ids[0]},a\nnot-a-uuid,b\n,c\n {ids[1].upper()} ,d\n{ids[0]},e\n\n{ids[2]},f\n"
    )
    out = tmp_path / "out.jsonl"
    res = run_cli(
        job, str(src), "-o", str(out), "--base-url", api.base_url, *job_args(job), *FAST, env=ENV
    )
    assert res.exit_code == 1
    by_line = {r["line"]: r for r in read_jsonl(out)}
    assert sorted(by_line) == [2, 3, 4, 5, 8]  # the duplicate on line 6 gets no record
    assert by_line[3]["error"]["kind"] == "invalid_input"
    assert "not a UUID" in by_line[3]["error"]["message"]
    assert by_line[4]["error"] == {"kind": "invalid_input", "message": "no 'profile_id' value"}
    assert by_line[5]["profile_id"] == ids[1]
    assert api.stats.requests == 3
    summary = res.event("run_finished")
    assert (summary["ok"], summary["invalid"], summary["duplicates"]) == (3, 2, 1)
    duplicate = res.event("duplicate_id")
    assert (duplicate["line"], duplicate["key"]) == (6, ids[0])


def test_log_lines_are_json_with_event_level_timestamp(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    res = run_cli(
        "worker-tokens",
        str(src),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--base-url",
        api.base_url,
        *FAST,
        env=ENV,
    )
    lines = res.stderr.splitlines()
    assert lines
    for line in lines:
        event = json.loads(line)
        assert {"event", "level", "timestamp"} <= set(event)
    assert res.names()[0] == "run_started"
    assert res.names()[-1] == "run_finished"


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.csv",), "cannot read 'missing.csv': no such file"),
        (("--rate", "0", "x.csv"), "Invalid value for '--rate'"),
        (("--concurrency", "-1", "x.csv"), "Invalid value for '--concurrency'"),
        (("--resume", "x.csv"), "--resume needs -o/--output to be a file"),
        (("--base-url", "http://example.com/rest/v2", "x.csv"), "plain http://"),
        (("--base-url", "not a url", "x.csv"), "is not an http(s) URL"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str, job: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "x.csv", new_ids(1))
    res = run_cli(job, *args, *job_args(job), "--log-format", "json", env=ENV)
    assert res.exit_code == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("job", JOBS)
def test_missing_token_names_both_sources(tmp_path: Path, job: str) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1))
    res = run_cli(job, str(src), *job_args(job), "--log-format", "json", env={"DEEL_API_TOKEN": ""})
    assert res.exit_code == 2
    assert "DEEL_API_TOKEN" in res.stderr
    assert "--token-file" in res.stderr


@pytest.mark.parametrize("job", JOBS)
def test_no_id_column_stops_before_any_call(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None)
    src = tmp_path / "in.csv"
    src.write_text("id,email\nabc,d\n")
    res = run_cli(
        job, str(src), "--base-url", api.base_url, *job_args(job), "--log-format", "json", env=ENV
    )
    assert res.exit_code == 2
    assert "no 'profile_id' column" in res.stderr
    assert api.stats.requests == 0


@pytest.mark.parametrize("job", JOBS)
def test_simulate_needs_no_token(tmp_path: Path, job: str) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    out = tmp_path / "out.jsonl"
    res = run_cli(
        job,
        "--simulate",
        str(src),
        "-o",
        str(out),
        "--rate",
        "100",
        "--log-format",
        "json",
        env={"DEEL_API_TOKEN": ""},
    )
    assert res.exit_code == 0, res.stderr
    assert [r["status"] for r in read_jsonl(out)] == ["ok"] * 3


def test_dry_run_reports_and_sends_nothing(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    ids = new_ids(4)
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + "\n".join([*ids, ids[0], "bad"]) + "\n")
    res = run_cli(
        "worker-tokens",
        str(src),
        "--dry-run",
        "--base-url",
        api.base_url,
        "--log-format",
        "json",
        env={},
    )
    assert api.stats.requests == 0
    assert res.exit_code == 1  # an invalid row is an error record-to-be
    assert res.stdout == ""  # the report goes to stderr: stdout is for results
    report = res.event("dry_run")  # JSON mode: the report is that one event
    assert report["first_invalid"][0]["line"] == 7
    text = run_cli("worker-tokens", str(src), "--dry-run", "--log-format", "console", env={})
    assert "would send:     4 calls" in text.stderr
    assert "line 7: 'bad' is not a UUID" in text.stderr
    assert (report["rows"], report["valid"], report["invalid"], report["duplicates"]) == (
        6,
        4,
        1,
        1,
    )


@pytest.mark.slow
def test_python_dash_m_batch_is_the_same_program() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "batch", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("deel-batch ")
    helped = subprocess.run(
        [sys.executable, "-m", "batch", "worker-tokens", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--max-attempts" in helped.stdout
    assert "Examples:" in helped.stdout


def test_on_a_terminal_a_user_error_is_one_plain_line(tmp_path: Path) -> None:
    res = run_cli(
        "worker-tokens", str(tmp_path / "missing.csv"), "--log-format", "console", env=ENV
    )
    assert res.exit_code == 2
    assert [line for line in res.stderr.splitlines() if line.strip()] == [
        f"deel-batch: cannot read '{tmp_path / 'missing.csv'}': no such file"
    ]


def test_a_wrong_url_is_named_before_a_missing_token(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1))
    res = run_cli("worker-tokens", str(src), "--base-url", "http://example.com/rest/v2",
                  "--log-format", "json", env={"DEEL_API_TOKEN": ""})  # fmt: skip
    assert res.exit_code == 2
    assert "plain http://" in res.event("usage_error")["message"]
