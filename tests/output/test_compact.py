"""Results files keep their current state: compaction by --resume runs and by `compact FILE`."""

from __future__ import annotations

import csv
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from batch.engine import QuietLogger
from batch.output import OutputFile, compact, maybe_compact, plan
from jobs import WORKER_TOKENS
from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

IDS = [str(uuid.UUID(int=n)) for n in range(1, 6)]


def ok(pid: str, n: int, line: int = 2) -> dict[str, Any]:
    return {"profile_id": pid, "status": "ok", "token": f"tok-{pid[-2:]}-{n}",
            "expires_at": f"2026-01-{n:02d}T00:00:00Z", "attempts": 1, "line": line}  # fmt: skip


def error(pid: str, n: int, kind: str = "http", line: int = 2) -> dict[str, Any]:
    return {"profile_id": pid, "status": "error", "attempts": 5, "line": line,
            "error": {"kind": kind, "http_status": 500, "message": f"boom {n}"}}  # fmt: skip


def write_jsonl(path: Path, records: Sequence[dict[str, Any] | str]) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    path.write_text(text)
    path.chmod(0o600)
    return path


A, B, C, D, E = IDS
HISTORY: list[dict[str, Any] | str] = [
    ok(A, 1), ok(B, 1), error(C, 1), error(D, 1),
    {"profile_id": "=bad", "status": "error", "attempts": 0, "line": 7,
     "error": {"kind": "invalid_input", "message": "'=bad' is not a UUID"}},
    ok(A, 2),  # supersedes A1
    error(B, 2),  # a failed refresh: B1 is still the token to use
    ok(C, 2),  # supersedes the error C1
    error(D, 2),  # supersedes the error D1
    "{not json",  # damaged
    {"profile_id": "=bad", "status": "error", "attempts": 0, "line": 7,
     "error": {"kind": "invalid_input", "message": "'=bad' is not a UUID"}},  # the same row again
    ok(E, 1),
]  # fmt: skip
#: the current state, in file order
CURRENT = [HISTORY[i] for i in (1, 4, 5, 6, 7, 8, 11)]


def test_the_current_state_per_id_is_kept_in_file_order(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "tokens.jsonl", HISTORY)
    out = OutputFile(str(path), start="resume")
    try:
        planned, done = compact(out, WORKER_TOKENS, force=True)
    finally:
        out.close()
    assert (planned.kept, planned.dropped, planned.unreadable) == (7, 4, 1)
    assert done is not None
    assert read_jsonl(path) == CURRENT
    assert done.bytes_after == path.stat().st_size
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.jsonl"]


def test_a_symlinked_results_file_is_rewritten_where_it_points(tmp_path: Path) -> None:
    target = write_jsonl(tmp_path / "data.jsonl", [ok(A, 1), ok(A, 2), ok(A, 3)])
    link = tmp_path / "tokens.jsonl"
    link.symlink_to(target)
    res = run_cli("compact", str(link))
    assert res.exit_code == 0, res.stderr
    assert link.is_symlink()
    assert read_jsonl(target) == [ok(A, 3)]


def test_a_csv_results_file_keeps_its_header_and_neutralised_rows(tmp_path: Path) -> None:
    src = tmp_path / "tokens.csv"
    header = "profile_id,status,token,expires_at,attempts,line,error_kind,error_http_status,error_message,error_api_req_id\n"
    rows = [
        f"{A},ok,t1,2026-01-01T00:00:00Z,1,2,,,,\n",
        "'=bad,error,,,0,3,invalid_input,,'=bad' is not a UUID,\n",
        f"{A},ok,t2,2026-01-02T00:00:00Z,1,2,,,,\n",
        "'=bad,error,,,0,3,invalid_input,,'=bad' is not a UUID,\n",
    ]
    src.write_text(header + "".join(rows))
    out = OutputFile(str(src), start="resume")
    try:
        compact(out, WORKER_TOKENS, force=True)
    finally:
        out.close()
    assert src.read_text() == header + rows[1] + rows[2]


def test_auto_compaction_waits_until_superseded_records_outnumber_current_ones(
    tmp_path: Path,
) -> None:
    path = write_jsonl(tmp_path / "tokens.jsonl", [ok(A, 1), ok(B, 1), ok(A, 2), ok(B, 2)])
    before = path.read_bytes()
    out = OutputFile(str(path), start="resume")
    try:
        assert maybe_compact(out, WORKER_TOKENS, enabled=True, log=QuietLogger()) is None
        assert path.read_bytes() == before  # 2 superseded, 2 current: not yet
        out.write(json.dumps(ok(A, 3)) + "\n")
        done = maybe_compact(out, WORKER_TOKENS, enabled=True, log=QuietLogger())
    finally:
        out.close()
    assert done is not None
    assert (done.kept, done.dropped) == (2, 3)
    assert read_jsonl(path) == [ok(B, 2), ok(A, 3)]


def test_a_full_disk_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """A real write failure (a file size limit, EFBIG, as a full disk gives ENOSPC), in a
    child process: the results file is unchanged and no temporary file is left."""
    path = write_jsonl(tmp_path / "tokens.jsonl", [ok(A, n) for n in range(1, 2000)])
    before = path.read_bytes()

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50, 50))

    proc = subprocess.run(
        [sys.executable, "-m", "batch", "compact", str(path), "--log-format", "json"],
        preexec_fn=limit,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert b"it is unchanged" in proc.stderr
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.jsonl"]


def test_a_leftover_temporary_file_of_a_dead_run_is_removed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "tokens.jsonl", [ok(A, 1), ok(A, 2), ok(A, 3)])
    dead = tmp_path / ".tokens.jsonl.999999999.tmp"
    dead.write_text("half a rewrite")
    res = run_cli("compact", str(path))
    assert res.exit_code == 0, res.stderr
    assert not dead.exists()
    assert read_jsonl(path) == [ok(A, 3)]


def test_compact_command_says_what_it_kept_and_dropped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "tokens.jsonl", HISTORY)
    dry = run_cli("compact", "--dry-run", str(path))
    assert dry.exit_code == 0, dry.stderr
    assert "would keep 7 records and drop 4 and 1 damaged lines" in dry.stdout
    assert len(path.read_text().splitlines()) == len(HISTORY)
    res = run_cli("compact", str(path))
    assert res.exit_code == 0, res.stderr
    assert "compacted: kept 7, dropped 4, 1 damaged" in res.stdout
    again = run_cli("compact", str(path))
    assert again.exit_code == 0
    assert "already compact: 7 current records" in again.stdout


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("profiles.csv", "profile_id,email\nabc,x@example.com\n", "not a results file"),
        ("notes.jsonl", '{"hello": 1}\n{"status": "ok"}\n', "not a results file"),
        ("missing.jsonl", None, "no such results file"),
    ],
)
def test_compact_refuses_what_is_not_a_results_file_unchanged(
    tmp_path: Path, name: str, content: str | None, why: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    res = run_cli("compact", str(path), "--log-format", "json")
    assert res.exit_code == 2
    assert why in res.event("usage_error")["message"]
    if content is not None:
        assert path.read_text() == content
    else:
        assert not path.exists()


def test_compact_names_an_unknown_job(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "tokens.jsonl", [ok(A, 1)])
    res = run_cli("compact", str(path), "--job", "nope", "--log-format", "json")
    assert res.exit_code == 2
    assert "no such job" in res.event("usage_error")["message"]


def test_a_lock_taken_on_a_file_renamed_over_meanwhile_is_not_kept(tmp_path: Path) -> None:
    """A run waiting for the lock while a compaction renames the new file in must lock
    and append to the new file, not to the replaced one."""
    from batch.output._lock import same_file

    path = write_jsonl(tmp_path / "tokens.jsonl", [ok(A, 1)])
    fd = os.open(path, os.O_RDWR)
    try:
        assert same_file(fd, str(path))
        write_jsonl(tmp_path / "new.jsonl", [ok(A, 2)]).replace(path)
        assert not same_file(fd, str(path))
    finally:
        os.close(fd)
    out = OutputFile(str(path), start="resume")
    try:
        out.write(json.dumps(ok(A, 3)) + "\n")
    finally:
        out.close()
    assert read_jsonl(path) == [ok(A, 2), ok(A, 3)]


def test_plan_holds_one_small_entry_per_id(tmp_path: Path) -> None:
    records = [ok(pid, n) for n in (1, 2) for pid in IDS]
    path = write_jsonl(tmp_path / "tokens.jsonl", records)
    with path.open("rb") as lines:
        planned = plan(lines, fmt="jsonl", job=WORKER_TOKENS, keep_keys=True)
    assert planned.keys is not None
    assert len(planned.keys) == len(IDS)
    assert all(isinstance(k, int) for k in planned.keys)  # the job's compact key
    assert [i for i in range(3 * len(IDS)) if planned.keeps(i)] == list(
        range(len(IDS), 2 * len(IDS))
    )


def nightly(api_url: str, src: Path, out: Path, *extra: str) -> Any:
    return run_cli("worker-tokens", str(src), "-o", str(out), "--resume", "--refresh-within",
                   "25h", "--errors", str(out.parent / "failed.csv"), "--base-url", api_url,
                   "--rate", "1000", "--log-format", "json", *extra, env=ENV)  # fmt: skip


@pytest.mark.parametrize("name", ["tokens.jsonl", "tokens.csv"])
def test_nightly_runs_keep_one_current_line_per_worker(
    sim: StartSim, tmp_path: Path, name: str
) -> None:
    """The README's cron line, night after night, with --refresh-within longer than a token
    lives: every night re-issues every token, and the file stays near one line per ID."""
    api = sim(rate=None)
    ids = new_ids(20)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / name
    header = 1 if name.endswith(".csv") else 0
    compacted_nights = []
    for night in range(1, 7):
        res = nightly(api.base_url, src, out)
        assert res.exit_code == 0, res.stderr
        lines = len(out.read_text().splitlines()) - header
        assert lines <= 3 * len(ids)
        if "compacted" in res.event("run_finished"):
            compacted_nights.append(night)
            assert res.event("run_finished")["compacted"]["kept"] == len(ids)
            assert lines == len(ids)
    assert compacted_nights == [3, 5]
    # every token on disk is the newest the API issued for its worker
    if header:
        with out.open(newline="") as handle:
            records = list(csv.DictReader(handle))
    else:
        records = read_jsonl(out)
    newest = {r["profile_id"]: r["token"] for r in records if r["status"] == "ok"}
    assert newest == {pid: api.stats.issued[pid][-1] for pid in ids}


def test_a_failed_refresh_keeps_the_token_still_valid(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(4)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "tokens.jsonl"
    good = sim(rate=None)
    assert nightly(good.base_url, src, out).exit_code == 0
    assert nightly(good.base_url, src, out).exit_code == 0
    failing = sim(rate=None, unknown_profiles={ids[0]})
    night3 = nightly(failing.base_url, src, out, "--max-attempts", "1")
    assert night3.exit_code == 1
    assert night3.event("run_finished")["compacted"]["kept"] == len(ids) + 1
    records = [r for r in read_jsonl(out) if r["profile_id"] == ids[0]]
    assert [r["status"] for r in records] == ["ok", "error"]
    assert records[0]["token"] == good.stats.issued[ids[0]][-1]
    failed = (tmp_path / "failed.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in failed[1:]] == [ids[0]]  # exactly what still fails


def test_keep_history_appends_only_and_compact_catches_up(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    ids = new_ids(5)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "tokens.jsonl"
    for _ in range(4):
        res = nightly(api.base_url, src, out, "--keep-history")
        assert res.exit_code == 0, res.stderr
        assert "compacted" not in res.event("run_finished")
    assert len(read_jsonl(out)) == 4 * len(ids)
    res = run_cli("compact", str(out))
    assert res.exit_code == 0, res.stderr
    assert f"kept {len(ids)}, dropped {3 * len(ids)}" in res.stdout
    assert len(read_jsonl(out)) == len(ids)


def test_keep_history_needs_resume(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1))
    res = run_cli("worker-tokens", str(src), "-o", str(tmp_path / "o.jsonl"), "--keep-history",
                  "--simulate", "--log-format", "json")  # fmt: skip
    assert res.exit_code == 2
    assert "--keep-history works with --resume" in res.event("usage_error")["message"]


def test_dry_run_resume_says_whether_the_run_would_compact(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    ids = new_ids(5)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "tokens.jsonl"
    forecasts = []
    for _ in range(3):
        dry = run_cli("worker-tokens", str(src), "-o", str(out), "--resume", "--refresh-within",
                      "25h", "--dry-run", "--log-format", "json", env=ENV)  # fmt: skip
        forecasts.append(dry.event("dry_run").get("compaction"))
        res = nightly(api.base_url, src, out)
        assert ("compacted" in res.event("run_finished")) == (forecasts[-1] == "yes")
    assert forecasts == [None, "no", "yes"]  # no file yet, then 1 line per ID, then 2
