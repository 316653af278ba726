"""A run that ends another job's records: the ``ended`` records, what --resume and
compaction make of them, and the file opened under its lock (`batch.output._ending`)."""

from __future__ import annotations

import fcntl
import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from batch.engine import ConfigError, Failure, HeldByAnotherRun, QuietLogger, Result
from batch.output import OutputFile, RunRecords, compact, open_ending, plan, read_back, written_by
from batch.output._resume import read_previous
from jobs import REVOKE_TOKENS, WORKER_TOKENS
from tests.output.test_compact import error, ok, write_jsonl

A, B, C = (str(uuid.UUID(int=n)) for n in range(1, 4))
ORIGIN = "0123456789abcdef"


def ended(pid: str, line: int = 2) -> dict[str, Any]:
    return {"profile_id": pid, "status": "error", "attempts": 0, "line": line,
            "error": {"kind": "ended", "message": "ended by revoke-tokens"}}  # fmt: skip


def revoked(pid: str, line: int = 2) -> Result:
    return Result(pid, line, "ok", 1, data={"revoked_at": "2026-01-02T03:04:05.678Z"})


def test_resume_redoes_an_ended_key_and_keeps_one_issued_after(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1), ok(B, 1), ended(A), ended(B), ok(B, 2)])
    with path.open("rb") as lines:
        previous = read_previous(lines, fmt="jsonl", job=WORKER_TOKENS)
    assert set(previous.ok) == {B}  # A was ended; B was issued again after its end


def test_compaction_drops_the_token_an_ended_record_ends(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [ok(A, 1), ok(B, 1), error(B, 2), ok(C, 1), ended(A), ended(B), ended(C), ok(C, 2)],
    )
    with path.open("rb") as lines:
        planned = plan(lines, fmt="jsonl", job=WORKER_TOKENS)
    assert (planned.kept, planned.dropped) == (3, 5)
    out = OutputFile(str(path), start="resume")
    try:
        compact(out, WORKER_TOKENS, force=True)
    finally:
        out.close()
    # A and B: their end alone (the failed refresh of B, older, is gone too); C: its new token
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        ended(A),
        ended(B),
        ok(C, 2),
    ]


def test_written_by_reads_past_error_records_to_tell_the_jobs_apart(tmp_path: Path) -> None:
    tokens = write_jsonl(tmp_path / "t.jsonl", [error(A, 1), ended(B), ok(C, 1)])
    revocations = write_jsonl(
        tmp_path / "r.jsonl",
        [error(A, 1), {"profile_id": B, "status": "ok", "revoked_at": "2026-01-01T00:00:00Z",
                       "attempts": 1, "line": 3}],
    )  # fmt: skip
    errors_only = write_jsonl(tmp_path / "e.jsonl", [error(A, 1)])
    assert (written_by(str(tokens), WORKER_TOKENS), written_by(str(tokens), REVOKE_TOKENS)) == (
        True,
        False,
    )
    assert (written_by(str(revocations), WORKER_TOKENS), written_by(str(revocations), REVOKE_TOKENS)) == (False, True)  # fmt: skip
    assert written_by(str(errors_only), WORKER_TOKENS)
    assert written_by(str(errors_only), REVOKE_TOKENS)  # either: compact asks for --job


def test_resume_refuses_another_job_s_json_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1)])
    out = OutputFile(str(path), start="resume")
    try:
        with pytest.raises(
            ConfigError, match="holds the records of another job, not revoke-tokens'"
        ):
            read_back(out, RunRecords(REVOKE_TOKENS), refresh_within=None, log=QuietLogger())
    finally:
        out.close()
    assert path.read_text().count("\n") == 1  # unchanged


async def _open(
    path: Path, origin: str = ORIGIN, wait: float = 0, *, proven: bool = False
) -> tuple[Any, list[Any]]:
    warned: list[tuple[str, dict[str, object]]] = []
    ending = await open_ending(
        str(path),
        REVOKE_TOKENS,
        origin,
        proven=proven,
        wait=wait,
        warn=lambda e, f: warned.append((e, f)),
    )
    return ending, warned


@pytest.mark.anyio
async def test_each_success_for_a_current_key_appends_its_ended_record(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1, line=7), error(B, 1), ok(C, 1)])
    ending, warned = await _open(path)
    assert ending is not None
    assert warned == []
    assert ending.current == {A: 7, C: 2}
    ending.end(revoked(A, line=1))
    ending.end(revoked(B))  # no current token in the file: nothing to end
    ending.end(Result(C, 3, "error", 1))  # not a success: ends nothing
    ending.end(revoked(A))  # once
    done = ending.close(QuietLogger(), compacting=False)
    assert (done.ended, done.current) == (1, 2)
    last = json.loads(path.read_text().splitlines()[-1])
    assert last == {
        "profile_id": A, "status": "error", "attempts": 0, "rate_limited": 0, "line": 7,
        "error": {"kind": "ended", "message": "ended by revoke-tokens (revoked_at "
                  "2026-01-02T03:04:05.678Z)"}, "origin": ORIGIN,
    }  # fmt: skip


@pytest.mark.anyio
async def test_a_csv_results_file_gets_rows_in_its_own_layout(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "profile_id,status,token,expires_at,attempts,line,error_kind,error_http_status,"
        "error_message,error_api_req_id,email\n"  # an older layout, with a carried column
        f"{A},ok,tok,2026-01-01T00:00:00Z,1,2,,,,,a@example.com\n"
    )
    ending, _ = await _open(path)
    assert ending is not None
    ending.end(revoked(A))
    ending.close(QuietLogger(), compacting=False)
    assert path.read_text().splitlines()[-1] == (
        f"{A},error,,,0,2,ended,,ended by revoke-tokens (revoked_at 2026-01-02T03:04:05.678Z),,"
    )


@pytest.mark.anyio
async def test_a_torn_last_line_is_ended_before_the_first_record(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1)])
    path.write_bytes(path.read_bytes() + b'{"profile_id": "tor')
    ending, _ = await _open(path)
    assert ending is not None
    ending.end(revoked(A))
    ending.close(QuietLogger(), compacting=False)
    lines = path.read_text().splitlines()
    assert lines[1] == '{"profile_id": "tor'
    assert json.loads(lines[2])["error"]["kind"] == "ended"


@pytest.mark.anyio
async def test_what_is_not_a_results_file_of_the_ended_job_is_left_alone(tmp_path: Path) -> None:
    ids = tmp_path / "ids.csv"
    ids.write_text(f"profile_id\n{A}\n")
    revocations = write_jsonl(tmp_path / "r.jsonl", [
        {"profile_id": A, "status": "ok", "revoked_at": "2026-01-01T00:00:00Z", "attempts": 1,
         "line": 2}])  # fmt: skip
    errors_file = write_jsonl(tmp_path / "failed.jsonl", [error(A, 1)])  # no token in it
    all_ended = write_jsonl(tmp_path / "done.jsonl", [ok(A, 1), ended(A)])
    for path in (ids, revocations, tmp_path / "missing.jsonl", errors_file, all_ended):
        before = path.read_bytes() if path.exists() else None
        assert await _open(path) == (None, [])
        assert (path.read_bytes() if path.exists() else None) == before
    none = await open_ending("-", REVOKE_TOKENS, ORIGIN, proven=True, wait=0, warn=print)
    assert none is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("records_origin", "run_origin"), [("simulated", ORIGIN), (ORIGIN, "simulated")]
)
async def test_a_simulated_run_and_a_real_file_do_not_mix(
    tmp_path: Path, records_origin: str, run_origin: str
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{**ok(A, 1), "origin": records_origin}])
    ending, warned = await _open(path, origin=run_origin)
    assert ending is None
    ((event, fields),) = warned
    assert event == "records_not_ended"
    assert "its records were left as they are" in str(fields["message"])
    # and its lock is not kept: another run may take it
    again = OutputFile(str(path), start="resume")
    again.close()


@pytest.mark.anyio
async def test_a_file_another_run_writes_is_held_by_it(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1)])
    with path.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(HeldByAnotherRun, match="records in it the records it ends"):
            await _open(path)
        with anyio.fail_after(5):
            with pytest.raises(HeldByAnotherRun):
                await _open(path, wait=0.3)  # waited, then gave up


@pytest.mark.anyio
async def test_a_file_this_run_cannot_write_is_warned_about_and_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1)])
    import batch.output._file
    import batch.output._lock

    def refuse(_path: str) -> int:
        raise ConfigError(f"cannot write {str(path)!r}: Read-only file system")

    monkeypatch.setattr(batch.output._lock, "open_locked", refuse)
    monkeypatch.setattr(batch.output._file, "open_locked", refuse)
    ending, warned = await _open(path)
    assert ending is None
    assert warned[0][0] == "records_not_ended"
    assert "Read-only file system" in str(warned[0][1]["message"])


def _gone(pid: str) -> Result:
    """The API's 404 for a DELETE: the worker holds no active token (any more)."""
    failure = Failure("http", "No active token for this worker", http_status=404)
    return Result(pid, 2, "error", 1, error=failure)


def _ended_keys(path: Path) -> list[str]:
    return [
        r["profile_id"]
        for r in (json.loads(line) for line in path.read_text().splitlines())
        if r.get("error", {}).get("kind") == "ended"
    ]


@pytest.mark.anyio
async def test_a_404_ends_a_record_only_once_the_set_up_has_proven_right(tmp_path: Path) -> None:
    """A revocation done, whose record a crash lost, meets a 404 when sent again: the token
    in the file is gone all the same. But a wrong account answers 404 to every key: until a
    success shows the set-up right, a 404 waits."""
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1), ok(B, 1), ok(C, 1)])
    ending, _ = await _open(path)
    assert ending is not None
    ending.end(_gone(A))
    assert _ended_keys(path) == []  # waits: it could be the wrong account
    ending.end(revoked(B))  # a success: the set-up is right
    assert _ended_keys(path) == [A, B]
    ending.end(_gone(C))
    assert _ended_keys(path) == [A, B, C]
    message = json.loads(path.read_text().splitlines()[-1])["error"]["message"]
    assert message == "ended by revoke-tokens (HTTP 404: No active token for this worker)"
    assert ending.close(QuietLogger(), compacting=False).ended == 3


@pytest.mark.anyio
async def test_refusals_alone_end_nothing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1), ok(B, 1)])
    ending, _ = await _open(path)
    assert ending is not None
    for pid in (A, B):
        ending.end(_gone(pid))
    ending.end(Result(A, 2, "error", 5, error=Failure("http", "boom", http_status=500)))
    assert ending.close(QuietLogger(), compacting=False).ended == 0
    assert _ended_keys(path) == []


@pytest.mark.anyio
async def test_a_resumed_run_s_earlier_successes_prove_the_set_up(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [ok(A, 1)])
    ending, _ = await _open(path, proven=True)
    assert ending is not None
    ending.end(_gone(A))
    assert _ended_keys(path) == [A]
    ending.close(QuietLogger(), compacting=False)
