"""Retries, permanent and fatal errors against injected faults on the simulated API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import StartSim, VirtualSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json", "--timeout", "2")


def run(api_url: str, src: Path, out: Path, *extra: str, env: dict[str, str] = ENV):  # type: ignore[no-untyped-def]
    return run_cli(
        "worker-tokens", str(src), "-o", str(out), "--base-url", api_url, *FAST, *extra, env=env
    )


@pytest.mark.parametrize("fault", ["500", "503_html", "429", "drop", "malformed", "stall"])
def test_each_transient_fault_ends_ok_with_the_real_token(
    virtual_sim: VirtualSim, tmp_path: Path, fault: str
) -> None:
    # On virtual time: a 0.3 s timeout cuts the stall, never a healthy answer that a busy
    # machine made late.
    ids = new_ids(2)
    sim = virtual_sim(rate=None, plan={ids[0]: [fault]}, stall_seconds=5)
    out = tmp_path / "out.jsonl"
    src = write_csv(tmp_path / "in.csv", ids)
    extra = ("--timeout", "0.3") if fault == "stall" else ()
    res = run_cli("worker-tokens", str(src), "-o", str(out), "--simulate", *FAST, *extra, env=ENV)
    assert res.exit_code == 0, res.stderr
    api = sim.api
    by_id = {r["profile_id"]: r for r in read_jsonl(out)}
    finished = res.event("run_finished")
    # After a stall the key is still held by the request the server hangs on: the retries
    # are told "in progress" (429, Retry-After) until it ends, then the next one mints.
    busy = finished["in_progress"]
    assert busy == api.stats.in_progress_429
    assert (busy > 0) == (fault == "stall")
    assert by_id[ids[0]]["attempts"] == 2 + busy
    assert by_id[ids[1]]["attempts"] == 1
    for pid, record in by_id.items():
        assert api.stats.issued[pid] == [record["token"]]
        assert api.stats.per_profile[pid] == record["attempts"] - (busy if pid == ids[0] else 0)
    assert finished["retries"] == 1 + busy
    assert finished["rate_limited"] == (fault == "429")  # "in progress" is not the rate limit
    if fault != "429":  # a 429's retry is a debug line; it is counted in rate_limited
        assert res.event("retrying")["key"] == ids[0]
    else:
        assert res.event("run_finished")["rate_limited"] == 1


def test_404_is_tried_once_and_recorded(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(2)
    api = sim(rate=None, unknown_profiles={ids[0]})
    out = tmp_path / "out.jsonl"
    res = run(api.base_url, write_csv(tmp_path / "in.csv", ids), out)
    assert res.exit_code == 1
    record = next(r for r in read_jsonl(out) if r["profile_id"] == ids[0])
    assert record["status"] == "error"
    assert record["attempts"] == 1
    assert record["error"]["kind"] == "http"
    assert record["error"]["http_status"] == 404
    assert record["error"]["api_req_id"]
    assert api.stats.per_profile[ids[0]] == 1


def test_endless_500_is_tried_exactly_max_attempts(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(1)
    api = sim(rate=None, plan={ids[0]: ["500"] * 10})
    out = tmp_path / "out.jsonl"
    errors = tmp_path / "errors.csv"
    res = run(
        api.base_url,
        write_csv(tmp_path / "in.csv", ids),
        out,
        "--max-attempts",
        "3",
        "--errors",
        str(errors),
    )
    assert res.exit_code == 1
    (record,) = read_jsonl(out)
    assert (record["attempts"], record["error"]["http_status"]) == (3, 500)
    assert api.stats.per_profile[ids[0]] == 3
    assert errors.read_text().splitlines()[1].startswith(f"{ids[0]},3,2,http,500,")


def test_html_error_page_is_summarised_not_dumped(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(1)
    api = sim(rate=None, plan={ids[0]: ["503_html"] * 5})
    out = tmp_path / "out.jsonl"
    run(api.base_url, write_csv(tmp_path / "in.csv", ids), out, "--max-attempts", "2")
    (record,) = read_jsonl(out)
    assert record["error"]["http_status"] == 503
    message = record["error"]["message"]
    assert message.startswith("non-JSON answer (text/html): '503 Service Temporarily Unavailable")
    assert "<" not in message


def test_wrong_token_stops_within_concurrency_requests(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, token="the-right-token")
    out = tmp_path / "out.jsonl"
    res = run(api.base_url, write_csv(tmp_path / "in.csv", new_ids(50)), out, "--concurrency", "4")
    assert res.exit_code == 3
    assert api.stats.requests <= 4
    aborted = res.event("run_aborted")
    assert "HTTP 401" in aborted["reason"]
    assert "DEEL_API_TOKEN" in aborted["reason"]
    summary = res.event("run_finished")
    assert summary["not_attempted"] == 50 - summary["failed"]
    assert "org-secret-token" not in res.stderr


def test_token_revoked_mid_run_then_resume_finishes(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, revoke_after=5)
    ids = new_ids(30)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    first = run(api.base_url, src, out, "--concurrency", "2")
    assert first.exit_code == 3
    assert api.stats.created == 5
    assert api.stats.requests <= 5 + 2
    api.config.revoke_after = None
    api2 = sim(rate=None)  # a fresh token / server: the admin fixed the credentials
    second = run(api2.base_url, src, out, "--resume")
    assert second.exit_code == 0, second.stderr
    newest: dict[str, dict[str, object]] = {}
    for record in read_jsonl(out):
        newest[str(record["profile_id"])] = record
    assert sorted(newest) == sorted(ids)
    assert all(r["status"] == "ok" for r in newest.values())
    ok_records = [r for r in read_jsonl(out) if r["status"] == "ok"]
    assert len(ok_records) == len(ids)  # nobody got a token twice
    assert second.event("run_finished")["skipped"] == 5
    assert api2.stats.requests == 25


def test_api_that_keeps_failing_stops_with_exit_3(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, p_500=1.0)
    out = tmp_path / "out.jsonl"
    res = run(
        api.base_url,
        write_csv(tmp_path / "in.csv", new_ids(500)),
        out,
        "--give-up-after",
        "0.5",
        "--max-attempts",
        "100",
        "--backoff-cap",
        "0.05",
    )
    assert res.exit_code == 3
    assert "kept failing" in res.event("run_aborted")["reason"]
    assert res.event("run_finished")["not_attempted"] > 0


def test_429_storm_pauses_and_lowers_the_rate(virtual_sim: VirtualSim, tmp_path: Path) -> None:
    # On virtual time: the pacer and the API's rolling window read one clock, so the
    # storm and the pacer's answer to it do not depend on how busy the machine is.
    sim = virtual_sim(rate=10)  # the org allows 10/s; the client is told 20/s
    ids = new_ids(40)
    out = tmp_path / "out.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", ids)), "-o", str(out), "--simulate",
        "--rate", "20", "--backoff-base", "0.05", "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert len(read_jsonl(out)) == 40
    summary = res.event("run_finished")
    assert summary["rate_limited"] == sim.api.stats.window_429 > 0
    assert summary["requests"] == 40 + summary["rate_limited"]
    changes = [e for e in res.events if e["event"] == "rate_changed"]
    # The first change answers the storm: down from the rate asked for (it may recover
    # later in the run, and be refused again: the last change says nothing).
    first = changes[0]
    assert first["reason"] == "rate_limited"
    assert first["new"] < first["old"] == 20


def test_a_base_url_without_the_api_root_stops_at_once(sim: StartSim, tmp_path: Path) -> None:
    """The simulator serves /rest/v2 only; elsewhere it answers as a web server does
    (404 text/plain). That is the base URL's fault, not the profiles': exit 3, nothing
    recorded as a profile failure, at most --concurrency requests spent."""
    ids = new_ids(50)
    api = sim(rate=None)
    root = api.base_url.removesuffix("/rest/v2")
    out = tmp_path / "out.jsonl"
    res = run(root, write_csv(tmp_path / "in.csv", ids), out, "--concurrency", "4")
    assert res.exit_code == 3, res.stderr
    reason = res.event("run_aborted")["reason"]
    assert f"{root}/workers/session answered HTTP 404" in reason
    assert "--base-url" in reason
    assert "https://api.letsdeel.com/rest/v2" in reason
    assert not out.exists() or read_jsonl(out) == []
    assert api.stats.created == 0
    finished = res.event("run_finished")
    assert finished["failed"] == 0
    assert finished["not_attempted"] == 50


def test_an_unknown_profile_after_the_api_answered_is_still_a_record(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(3)
    api = sim(rate=None, unknown_profiles={ids[1]})
    out = tmp_path / "out.jsonl"
    res = run(api.base_url, write_csv(tmp_path / "in.csv", ids), out, "--concurrency", "1")
    assert res.exit_code == 1
    statuses = {r["profile_id"]: r["status"] for r in read_jsonl(out)}
    assert statuses == {ids[0]: "ok", ids[1]: "error", ids[2]: "ok"}
