"""revoke-tokens end to end against the simulated API: its records, the results file it
revokes kept in step (a later worker-tokens --resume re-issues exactly the revoked IDs),
the confirmation, and the run stopped when every answer refuses alike (both jobs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch.engine._refusals import SAME_REFUSALS
from jobs._simulator import PRIOR_TOKEN
from jobs._simulator._config import REJECT_ALL_MESSAGE
from tests.conftest import StartSim
from tests.helpers import ENV, JOBS, job_args, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json")


def mint(base_url: str, src: Path, out: Path, *extra: str) -> int:
    res = run_cli("worker-tokens", str(src), "-o", str(out), "--base-url", base_url, *FAST,
                  *extra, env=ENV)  # fmt: skip
    return res.exit_code


def revoke(base_url: str, src: Path, out: Path, *extra: str) -> tuple[int, list[dict[str, object]]]:
    res = run_cli("revoke-tokens", str(src), "-o", str(out), "--base-url", base_url, "--yes",
                  *FAST, *extra, env=ENV)  # fmt: skip
    return res.exit_code, res.events


def newest(path: Path) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for record in read_jsonl(path):
        found[str(record["profile_id"])] = record
    return found


def test_a_revocation_record_says_when_the_api_answered(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, tokens_predate=True)
    ids = new_ids(3)
    out = tmp_path / "revoked.jsonl"
    code, events = revoke(api.base_url, write_csv(tmp_path / "in.csv", ids), out)
    assert code == 0
    records = read_jsonl(out)
    assert sorted(r["profile_id"] for r in records) == sorted(ids)
    for record in records:
        assert list(record) == [
            "profile_id", "status", "revoked_at", "attempts", "rate_limited", "line", "origin",
        ]  # fmt: skip
        assert (record["status"], record["attempts"]) == ("ok", 1)
        assert str(record["revoked_at"]).endswith("Z")
    assert {w: r.revoked for w, r in api.stats.workers.items()} == {
        pid: [PRIOR_TOKEN] for pid in ids
    }
    assert not any(e["event"] == "ending_records" for e in events)  # a plain list of IDs


def test_the_request_is_a_delete_with_the_id_in_the_path_and_no_body(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    (pid,) = new_ids(1)
    code, _ = revoke(api.base_url, write_csv(tmp_path / "in.csv", [pid]), tmp_path / "r.jsonl")
    assert code == 0
    assert dict(api.stats.per_worker) == {pid: 1}
    assert api.stats.per_profile == {}  # no POST
    assert api.stats.revocations == 1


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_revoking_a_results_file_makes_resume_reissue_exactly_the_revoked_ids(
    sim: StartSim, tmp_path: Path, fmt: str
) -> None:
    ids = new_ids(12)
    unknown = set(ids[3:5])
    api = sim(rate=None, unknown_profiles=unknown)
    src = write_csv(tmp_path / "ids.csv", ids)
    tokens = tmp_path / f"tokens.{fmt}"
    assert mint(api.base_url, src, tokens) == 1  # the unknown IDs are errors
    first = {pid: r.active for pid, r in api.stats.workers.items()}

    revoked = tmp_path / "revoked.jsonl"
    code, events = revoke(api.base_url, tokens, revoked)
    assert code == 1  # the unknown IDs: a 404 each
    by_id = newest(revoked)
    assert sorted(by_id) == sorted(ids)
    assert {pid for pid, r in by_id.items() if r["status"] == "ok"} == set(ids) - unknown
    for pid in unknown:
        error = by_id[pid]["error"]
        assert isinstance(error, dict)
        assert (error["kind"], error["http_status"], error["message"]) == (
            "http", 404, "Worker not found"
        )  # fmt: skip
    (finished,) = [e for e in events if e["event"] == "run_finished"]
    assert finished["ended"] == {"path": str(tokens), "ended": 10}
    assert all(r.active is None for pid, r in api.stats.workers.items() if pid not in unknown)

    assert mint(api.base_url, src, tokens, "--resume") == 1
    again = {pid: r.issued for pid, r in api.stats.workers.items()}
    assert {pid for pid, tokens_ in again.items() if len(tokens_) == 2} == set(ids) - unknown
    for pid in set(ids) - unknown:
        assert again[pid][0] == first[pid]
        assert api.stats.workers[pid].active == again[pid][1]


def test_the_results_file_holds_an_ended_record_and_compaction_drops_the_token(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(4)
    tokens = tmp_path / "tokens.jsonl"
    assert mint(api.base_url, write_csv(tmp_path / "ids.csv", ids), tokens) == 0
    minted = read_jsonl(tokens)
    code, _ = revoke(api.base_url, write_csv(tmp_path / "two.csv", ids[:2]), tmp_path / "r1.jsonl")
    assert code == 0  # from a list of IDs: the results file is not touched
    assert read_jsonl(tokens) == minted

    code, _ = revoke(api.base_url, tokens, tmp_path / "r2.jsonl")
    assert code == 1  # ids[:2] have no active token any more: a 404 each
    records = read_jsonl(tokens)
    assert records[:4] == minted  # appended to, never rewritten while 4 current = 4 ended
    ended = {str(r["profile_id"]): r for r in records[4:]}
    assert sorted(ended) == sorted(ids)  # the 404s too: no token there is current any more
    line_of = {r["profile_id"]: r["line"] for r in minted}
    for pid, record in ended.items():
        assert record["status"] == "error"
        assert record["line"] == line_of[pid]  # the record it ends
        assert "token" not in record
        error = record["error"]
        assert isinstance(error, dict)
        assert error["kind"] == "ended"
        if pid in ids[:2]:
            assert error["message"] == (
                "ended by revoke-tokens (HTTP 404: No active token for this worker)"
            )
        else:
            assert str(error["message"]).startswith("ended by revoke-tokens (revoked_at 20")

    compacted = run_cli("compact", str(tokens), "--log-format", "json")
    assert compacted.exit_code == 0, compacted.stderr
    kept = read_jsonl(tokens)
    assert sorted(str(r["profile_id"]) for r in kept) == sorted(ids)
    assert all(r["status"] == "error" and "token" not in r for r in kept)  # no token left


def test_a_results_file_another_run_is_writing_is_refused_with_75(
    sim: StartSim, tmp_path: Path
) -> None:
    import fcntl

    api = sim(rate=None)
    tokens = tmp_path / "tokens.jsonl"
    assert mint(api.base_url, write_csv(tmp_path / "ids.csv", new_ids(2)), tokens) == 0
    with tokens.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        res = run_cli("revoke-tokens", str(tokens), "-o", str(tmp_path / "r.jsonl"), "--yes",
                      "--base-url", api.base_url, "--log-format", "json", env=ENV)  # fmt: skip
    assert res.exit_code == 75
    assert "is being written by another run" in res.stderr
    assert api.stats.revocations == 0


def test_a_simulated_run_does_not_end_real_records(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    tokens = tmp_path / "tokens.jsonl"
    assert mint(api.base_url, write_csv(tmp_path / "ids.csv", new_ids(2)), tokens) == 0
    before = tokens.read_bytes()
    res = run_cli("revoke-tokens", str(tokens), "--simulate", "-o", str(tmp_path / "r.jsonl"),
                  "--log-format", "json", env={})  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "a real API's records" in res.event("records_not_ended")["message"]
    assert tokens.read_bytes() == before


def test_simulate_finds_the_simulator_of_the_job(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.jsonl"
    src = write_csv(tmp_path / "ids.csv", new_ids(3))
    made = run_cli("worker-tokens", "--simulate", str(src), "-o", str(tokens), *FAST, env={})
    assert made.exit_code == 0, made.stderr
    # A fresh simulator for the revocation: each ID holds a token from before it started.
    res = run_cli("revoke-tokens", "--simulate", str(tokens), "-o", str(tmp_path / "r.jsonl"),
                  *FAST, env={})  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert res.event("run_finished")["ended"]["ended"] == 3
    again = run_cli("worker-tokens", "--simulate", str(src), "-o", str(tokens), "--resume",
                    *FAST, env={})  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert again.event("run_finished")["ok"] == 3


# -- the confirmation ---------------------------------------------------------------------


def test_without_a_terminal_it_needs_yes(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "ids.csv", new_ids(2))
    res = run_cli("revoke-tokens", str(src), "-o", str(tmp_path / "r.jsonl"), "--base-url",
                  api.base_url, "--log-format", "console", env=ENV)  # fmt: skip
    assert res.exit_code == 2
    assert [line for line in res.stderr.splitlines() if line.strip()] == [
        "deel-batch: revoke-tokens cannot be undone and there is no terminal to ask on: pass "
        "--yes to run it without asking (nothing was done)"
    ]
    assert api.stats.requests == 0
    assert not (tmp_path / "r.jsonl").exists()


def test_worker_tokens_has_no_yes() -> None:
    res = run_cli("worker-tokens", "--yes", "x.csv")
    assert res.exit_code == 2
    assert "No such option '--yes'" in res.stderr


def test_dry_run_gives_the_count_and_the_time_at_the_quota(tmp_path: Path) -> None:
    ids = new_ids(40)
    src = write_csv(tmp_path / "ids.csv", [*ids, ids[0], "bad"])
    res = run_cli("revoke-tokens", str(src), "--dry-run", "--log-format", "console", env={})
    assert res.exit_code == 1  # the invalid row
    assert "would send:     40 calls, about 7.9s at --rate 5 (4.95/s effective)" in res.stderr
    as_json = run_cli("revoke-tokens", str(src), "--dry-run", "--log-format", "json", env={})
    report = as_json.event("dry_run")
    assert (report["would_send"], report["estimated_s"], report["estimated_rate"]) == (40, 7.9, 5.0)


# -- every answer the same refusal: one engine rule, both jobs -----------------------------


@pytest.mark.parametrize("job", JOBS)
def test_the_same_400_for_everything_stops_the_run_within_a_few_dozen_requests(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    api = sim(rate=None, reject_all=REJECT_ALL_MESSAGE)
    src = write_csv(tmp_path / "ids.csv", new_ids(500))
    res = run_cli(job, str(src), "-o", str(tmp_path / "o.jsonl"), "--base-url", api.base_url,
                  "--concurrency", "8", *job_args(job), *FAST, env=ENV)  # fmt: skip
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert reason.startswith(
        f"the API refused each of the first {SAME_REFUSALS} requests with HTTP 400 "
        f"({REJECT_ALL_MESSAGE!r}) and none succeeded"
    )
    assert SAME_REFUSALS <= api.stats.requests <= SAME_REFUSALS + 8  # those in flight finish
    summary = res.event("run_finished")
    assert summary["failed"] == api.stats.requests  # each answered ID has its record
    assert summary["not_attempted"] == 500 - api.stats.requests  # left for --resume


def test_every_id_unknown_stops_a_revocation_as_a_wrong_set_up(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(100)
    api = sim(rate=None, unknown_profiles=set(ids))
    code, events = revoke(api.base_url, write_csv(tmp_path / "ids.csv", ids), tmp_path / "r.jsonl")
    assert code == 3
    reason = str(next(e for e in events if e["event"] == "run_aborted")["reason"])
    assert "HTTP 404 ('Worker not found') and none succeeded" in reason
    assert "check that the IDs belong to this API and account" in reason
    assert api.stats.requests <= SAME_REFUSALS + 8


@pytest.mark.parametrize("job", JOBS)
def test_some_unknown_ids_among_successes_run_to_the_end(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    ids = new_ids(90)
    unknown = {pid for n, pid in enumerate(ids) if n % 3 == 0}  # the first answer is a 404
    api = sim(rate=None, unknown_profiles=unknown)
    out = tmp_path / "o.jsonl"
    res = run_cli(job, str(write_csv(tmp_path / "ids.csv", ids)), "-o", str(out), "--base-url",
                  api.base_url, "--concurrency", "1", *job_args(job), *FAST, env=ENV)  # fmt: skip
    assert res.exit_code == 1
    summary = res.event("run_finished")
    assert (summary["ok"], summary["failed"], summary["not_attempted"]) == (60, 30, 0)
    assert len(read_jsonl(out)) == 90


def test_the_revoked_results_file_is_private(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    out = tmp_path / "r.jsonl"
    code, _ = revoke(api.base_url, write_csv(tmp_path / "ids.csv", new_ids(1)), out)
    assert code == 0
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert json.loads(out.read_text())["status"] == "ok"
    assert ENV["DEEL_API_TOKEN"] not in out.read_text()
