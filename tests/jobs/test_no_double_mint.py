"""One key per ID per run: a retry after a lost answer gets the token already minted.

Every POST carries an ``Idempotency-Key``, the same on every attempt of an ID and new in
every run. Against a server that mints and then loses the answer (a timeout, a reset, a
cut body), the retry is answered from Deel's idempotency cache: one token per ID, where
each new mint would have ended the one before. On virtual time: the timeouts take none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import StartSim, VirtualSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json")


def _simulated(src: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli("worker-tokens", str(src), "-o", str(out), "--simulate", *FAST, *extra, env=ENV)


@pytest.mark.parametrize("fault", ["mint_then_timeout", "mint_then_reset", "broken_chunked_201"])
def test_a_server_that_loses_the_answer_after_minting_ends_with_one_token_per_id(
    virtual_sim: VirtualSim, tmp_path: Path, fault: str
) -> None:
    ids = new_ids(3)
    lost = ids[0]
    sim = virtual_sim(rate=None, plan={lost: [fault]}, stall_seconds=30)
    out = tmp_path / "tokens.jsonl"
    res = _simulated(write_csv(tmp_path / "in.csv", ids), out, "--timeout", "5")
    assert res.exit_code == 0, res.stderr
    api = sim.api
    by_id = {record["profile_id"]: record for record in read_jsonl(out)}
    assert len(api.stats.workers[lost].issued) == 1  # minted once, answered twice
    assert api.stats.workers[lost].replaced == []
    assert by_id[lost]["token"] == api.stats.workers[lost].active
    assert by_id[lost]["attempts"] == 2
    assert api.stats.replays == 1
    assert api.stats.key_reuse == 0  # the key was never sent for another ID
    finished = res.event("run_finished")
    assert finished["replayed"] == 1
    assert finished["ok"] == 3
    assert all(len(api.stats.workers[pid].issued) == 1 for pid in ids)


def test_a_429_for_a_key_in_progress_is_waited_out_and_never_paced_down(
    virtual_sim: VirtualSim, tmp_path: Path
) -> None:
    # The server hangs on the first request for 5 s; the client gives up after 1 s. Its
    # retries find that request still holding the key (429 "Request conflict detected",
    # Retry-After 1) and wait it out; once the hang ends the key is free, and the next
    # attempt mints. The rate limit was never hit: the pace never changed.
    ids = new_ids(3)
    busy = ids[0]
    sim = virtual_sim(rate=None, plan={busy: ["stall"]}, stall_seconds=5)
    out = tmp_path / "tokens.jsonl"
    res = _simulated(
        write_csv(tmp_path / "in.csv", ids), out, "--timeout", "1", "--rate", "5",
        "--quota-store", "none",  # the host-wide store paces on the real clock
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    api = sim.api
    finished = res.event("run_finished")
    assert api.stats.in_progress_429 >= 1
    assert finished["in_progress"] == api.stats.in_progress_429
    assert finished["rate_limited"] == 0
    assert finished["settled_rate"] == 5.0
    assert "rate_changed" not in res.names()
    by_id = {record["profile_id"]: record for record in read_jsonl(out)}
    assert by_id[busy]["status"] == "ok"
    assert by_id[busy]["rate_limited"] == 0
    # max_attempts (5) counts the timeout and the mint, not the waits in between
    assert by_id[busy]["attempts"] == 2 + api.stats.in_progress_429
    assert all(len(api.stats.workers[pid].issued) == 1 for pid in ids)


def test_a_key_held_for_minutes_after_its_client_left_is_waited_for_not_given_up_on(
    virtual_sim: VirtualSim, tmp_path: Path
) -> None:
    # Deel holds the key of a request whose client went away for two minutes ("wait 2
    # minutes before retrying"): every answer in that time is a 429 "in progress". The API
    # is answering, not failing: --give-up-after (60 s) must not count that time, so the
    # 500 that comes once the key is free is the first failure of a new spell, not the
    # end of a two-minute one.
    ids = new_ids(3)
    busy = ids[0]
    plan = {busy: ["stall", "500"]}
    sim = virtual_sim(rate=None, plan=plan, stall_seconds=5, idempotency_linger=120)
    out = tmp_path / "tokens.jsonl"
    res = _simulated(write_csv(tmp_path / "in.csv", ids), out, "--timeout", "1")
    assert res.exit_code == 0, res.stderr
    assert "run_aborted" not in res.names()
    api = sim.api
    assert api.stats.in_progress_429 >= 2  # the wait outlasted --give-up-after
    by_id = {record["profile_id"]: record for record in read_jsonl(out)}
    assert by_id[busy]["status"] == "ok"
    assert by_id[busy]["token"] == api.stats.workers[busy].active
    assert by_id[busy]["attempts"] == 3 + api.stats.in_progress_429  # stall, 500, mint
    assert all(len(api.stats.workers[pid].issued) == 1 for pid in ids)
    assert res.event("run_finished")["elapsed_s"] > 60


def test_a_new_run_uses_new_keys_and_mints_again(sim: StartSim, tmp_path: Path) -> None:
    # A nightly refresh must mint: a replay of yesterday's answer would hand out a token
    # that is about to expire.
    ids = new_ids(2)
    api = sim(rate=None)
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.jsonl"
    common = ("--base-url", api.base_url, *FAST)
    first = run_cli("worker-tokens", str(src), "-o", str(out), *common, env=ENV)
    assert first.exit_code == 0, first.stderr
    again = run_cli(
        "worker-tokens", str(src), "-o", str(out), "--resume", "--refresh-within", "25h",
        *common, env=ENV,
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert api.stats.replays == 0
    assert all(len(api.stats.workers[pid].issued) == 2 for pid in ids)
    newest = {r["profile_id"]: r["token"] for r in read_jsonl(out)}
    assert all(newest[pid] == api.stats.workers[pid].active for pid in ids)
