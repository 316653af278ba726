"""429s are flow control: they never use up a record's attempts, and --rate finds the limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs._library import open_worker_tokens
from jobs._simulator import serve
from tests.conftest import StartSim, VirtualSim, on_virtual_time
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json", "--timeout", "2")


#: `run`'s API: the simulated one of a `virtual_sim`, in the run's own loop on virtual time.
SIMULATED = "--simulate"


def run(api_url: str, src: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    where = ("--simulate",) if api_url == SIMULATED else ("--base-url", api_url)
    return run_cli("worker-tokens", str(src), "-o", str(out), *where, *FAST, *extra, env=ENV)


def test_429s_do_not_use_up_attempts(virtual_sim: VirtualSim, tmp_path: Path) -> None:
    # On virtual time: each refused window is held to (the lone ID's 429s come two seconds
    # apart at the floor), which the test need not wait for.
    ids = new_ids(2)
    sim = virtual_sim(rate=None, plan={ids[0]: ["429"] * 7})
    out = tmp_path / "out.jsonl"
    res = run(SIMULATED, write_csv(tmp_path / "in.csv", ids), out, "--max-attempts", "2")
    api = sim.api
    assert res.exit_code == 0, res.stderr
    by_id = {r["profile_id"]: r for r in read_jsonl(out)}
    assert (by_id[ids[0]]["status"], by_id[ids[0]]["attempts"]) == ("ok", 8)
    assert by_id[ids[0]]["rate_limited"] == 7
    assert (by_id[ids[1]]["attempts"], by_id[ids[1]]["rate_limited"]) == (1, 0)
    assert api.stats.per_profile[ids[0]] == 8
    assert res.event("run_finished")["rate_limited"] == 7


def test_max_attempts_counts_the_other_answers(virtual_sim: VirtualSim, tmp_path: Path) -> None:
    ids = new_ids(1)
    sim = virtual_sim(rate=None, plan={ids[0]: ["429", "500", "429", "429", "500", "500"]})
    out = tmp_path / "out.csv"
    res = run(SIMULATED, write_csv(tmp_path / "in.csv", ids), out, "--max-attempts", "2")
    api = sim.api
    assert res.exit_code == 1, res.stderr
    header, row = out.read_text().splitlines()
    record = dict(zip(header.split(","), row.split(","), strict=True))
    # Two 500s used up the two attempts; the three 429s between them did not count.
    assert (record["attempts"], record["rate_limited"], record["error_http_status"]) == (
        "5",
        "3",
        "500",
    )
    assert api.stats.per_profile[ids[0]] == 5
    failed = res.event("record_failed")
    assert (failed["attempts"], failed["rate_limited"]) == (5, 3)


def test_nothing_but_429s_for_give_up_after_stops_resumably(
    virtual_sim: VirtualSim, tmp_path: Path
) -> None:
    # The organization's quota is taken by another integration: every request gets 429.
    # On virtual time: the second of --give-up-after passes without a real wait.
    ids = new_ids(20)
    sim = virtual_sim(rate=None, p_429=1.0)
    out = tmp_path / "out.jsonl"
    res = run(SIMULATED, write_csv(tmp_path / "in.csv", ids), out, "--give-up-after", "1")
    assert res.exit_code == 3, res.stderr
    assert "refused every request with 429 (rate limit)" in res.event("run_aborted")["reason"]
    # No record says an ID failed: what was under way is "aborted", the rest is left to
    # --resume, and a resumed run finishes the lot.
    records = read_jsonl(out)
    assert {r["error"]["kind"] for r in records} <= {"aborted"}
    assert all(r["rate_limited"] == r["attempts"] for r in records)
    sim.config.p_429 = 0.0  # the next run's simulated API: the other integration is gone
    again = run(SIMULATED, write_csv(tmp_path / "in.csv", ids), out, "--resume")
    assert again.exit_code == 0, again.stderr
    assert sum(api.stats.created for api in sim.served) == 20  # one server a run


def test_a_resumed_csv_of_the_first_release_keeps_its_columns(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(3)
    api = sim(rate=None)
    out = tmp_path / "out.csv"
    old = (
        "profile_id,status,token,expires_at,attempts,line,"
        "error_kind,error_http_status,error_message,error_api_req_id"
    )
    out.write_text(f"{old}\n{ids[0]},ok,wt_x,2099-01-01T00:00:00Z,1,2,,,,\n")
    out.chmod(0o600)
    res = run(api.base_url, write_csv(tmp_path / "in.csv", ids), out, "--resume")
    assert res.exit_code == 0, res.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == old
    assert len(lines) == 4
    assert all(len(line.split(",")) == len(old.split(",")) for line in lines)
    assert api.stats.requests == 2


def test_a_rate_above_the_documented_limit_is_warned_about_once(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    res = run(api.base_url, src, tmp_path / "out.jsonl")
    (warning,) = [e for e in res.events if e["event"] == "rate_above_documented_limit"]
    assert warning["message"].startswith(
        "--rate 1000 is above the API's documented limit of 5/s: the run adapts"
    )
    calm = run_cli(
        "worker-tokens", str(src), "-o", str(tmp_path / "calm.jsonl"), "--base-url", api.base_url,
        "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert "rate_above_documented_limit" not in calm.names()


def test_dry_run_estimates_at_the_documented_limit(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1000))
    res = run_cli("worker-tokens", str(src), "--dry-run", "--rate", "200", env={})
    assert res.exit_code == 0
    report = res.event("dry_run")
    assert (report["estimated_rate"], report["estimated_s"]) == (5.0, 201.8)  # 999 x 1.01/5


@pytest.mark.anyio
@on_virtual_time
async def test_library_results_count_their_429s() -> None:
    pid = new_ids(1)[0]
    async with serve() as api:
        api.config.rate = None
        api.config.plan = {pid: ["429", "429"]}
        async with open_worker_tokens([pid], token="t", base_url=api.base_url, rate=100) as results:
            (result,) = [r async for r in results]
    assert (result.ok, result.attempts, result.rate_limited) == (True, 3, 2)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_rate_set_too_high_costs_no_record(sim: StartSim, tmp_path: Path) -> None:
    # As a new user runs it: 150 IDs against the API's 5/s, --rate set too high.
    rates = ("10", "50", "200", "1000")
    apis, procs = {}, {}
    for rate in rates:
        apis[rate] = api = sim(rate=5)
        src = write_csv(tmp_path / f"in{rate}.csv", new_ids(150))
        procs[rate] = subprocess.Popen(
            [sys.executable, "-m", "batch", "worker-tokens", str(src), "--rate", rate,
             "-o", str(tmp_path / f"out{rate}.jsonl"), "--base-url", api.base_url,
             "--log-format", "json", "--no-progress"],
            env={**os.environ, **ENV}, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    for rate, proc in procs.items():
        _, stderr = proc.communicate(timeout=140)
        assert proc.returncode == 0, stderr[-2000:]
        records = read_jsonl(tmp_path / f"out{rate}.jsonl")
        assert len(records) == 150
        assert {r["status"] for r in records} == {"ok"}
        assert all(len(apis[rate].stats.issued[r["profile_id"]]) == 1 for r in records)
        summary = next(
            e for e in map(json.loads, stderr.splitlines()) if e["event"] == "run_finished"
        )
        assert summary["failed"] == 0
        assert summary["settled_rate"] < 7
        assert apis[rate].stats.max_in_window == 5
