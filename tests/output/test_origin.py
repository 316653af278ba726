"""A results file knows where its tokens came from; --resume never mixes origins."""

from __future__ import annotations

import csv
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from batch.output import origin_for, origin_of
from batch.output._origin import legacy_origin_of
from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--log-format", "json")


def _real_run(api_url: str, src: Path, out: Path, *extra: str, token: str = ENV["DEEL_API_TOKEN"]):  # type: ignore[no-untyped-def]
    return run_cli(
        "worker-tokens", str(src), "-o", str(out), "--base-url", api_url, *FAST, *extra,
        env={"DEEL_API_TOKEN": token},
    )  # fmt: skip


def test_origin_is_a_keyed_hash_never_the_token() -> None:
    one = origin_of("https://api.example.com/rest/v2", "secret-token-1")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{12}", one)
    assert "secret" not in one
    assert one == origin_of("https://api.example.com/rest/v2/", "secret-token-1")
    rotated = origin_of("https://api.example.com/rest/v2", "secret-token-2")
    assert rotated != one
    assert rotated[:8] == one[:8]  # the same API: what tells a rotation from another API
    staging = origin_of("https://api-staging.example.com/rest/v2", "secret-token-1")
    assert staging[:8] != one[:8]
    assert origin_of("http://127.0.0.1:8080/v2", "t") == origin_of("http://127.0.0.1:9090/v2", "t")
    assert origin_of("whatever", "t", simulated=True) == "simulated"
    # What 0.2.0 stamped is still recognised as this run's own.
    legacy = legacy_origin_of("https://api.example.com/rest/v2", "secret-token-1")
    assert re.fullmatch(r"[0-9a-f]{16}", legacy)
    assert origin_for("https://api.example.com/rest/v2", "secret-token-1").earlier == {legacy}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_simulate_resume_into_real_tokens_is_refused_unchanged(
    sim: StartSim, tmp_path: Path, fmt: str
) -> None:
    ids = new_ids(4)
    api = sim(rate=None)
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / f"tokens.{fmt}"
    assert _real_run(api.base_url, src, out).exit_code == 0
    before = out.read_bytes()
    res = run_cli("worker-tokens", str(src), "-o", str(out), "--simulate", "--resume", *FAST)
    assert res.exit_code == 2
    assert "holds real tokens and this run is --simulate" in res.event("usage_error")["message"]
    assert out.read_bytes() == before


def test_real_resume_into_simulated_tokens_is_refused(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(3)
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.jsonl"
    assert run_cli("worker-tokens", str(src), "-o", str(out), "--simulate", *FAST).exit_code == 0
    api = sim(rate=None)
    res = _real_run(api.base_url, src, out, "--resume")
    assert res.exit_code == 2
    assert "holds tokens of the simulated API" in res.stderr
    assert api.stats.requests == 0


def test_another_base_url_is_refused(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(3)
    api = sim(rate=None)
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.jsonl"
    assert _real_run(api.base_url, src, out).exit_code == 0
    before = out.read_bytes()
    staging = _real_run(api.base_url.replace("/rest/v2", "/staging/rest/v2"), src, out, "--resume")
    assert staging.exit_code == 2
    assert "holds tokens from another API" in staging.event("usage_error")["message"]
    assert out.read_bytes() == before
    same = _real_run(api.base_url, src, out, "--resume")
    assert same.exit_code == 0
    assert same.event("run_finished")["skipped"] == 3


def _stamp(record: dict[str, object], origin: str) -> str:
    return json.dumps({**record, "origin": origin}) + "\n"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_rotated_token_heals_itself_with_one_full_reissue(
    sim: StartSim, tmp_path: Path, fmt: str
) -> None:
    ids = new_ids(4)
    api = sim(rate=None)
    src, out = write_csv(tmp_path / "in.csv", [*ids, "TBD"]), tmp_path / f"tokens.{fmt}"
    assert _real_run(api.base_url, src, out, token="old-token").exit_code == 1  # the TBD row
    rotated = _real_run(api.base_url, src, out, "--resume", token="new-token")
    assert rotated.exit_code == 1, rotated.stderr  # as any run: the TBD row is still there
    assert rotated.names().count("origin_changed") == 1
    warning = rotated.event("origin_changed")
    assert warning["level"] == "warning"
    assert "new-token" not in rotated.stderr
    assert "old-token" not in rotated.stderr
    finished = rotated.event("run_finished")
    assert (finished["ok"], finished["skipped"], finished["invalid"]) == (4, 0, 1)
    assert all(len(api.stats.workers[pid].issued) == 2 for pid in ids)  # one re-issue each
    assert not Path(f"{out}.prev").exists()  # the run finished: the old records are gone
    new = origin_of(api.base_url, "new-token")
    assert _origins(out, fmt) == {new}
    # The next night is an ordinary --resume: nothing is re-issued again.
    again = _real_run(api.base_url, src, out, "--resume", token="new-token")
    assert again.exit_code == 1
    assert "origin_changed" not in again.names()
    assert again.event("run_finished")["skipped"] == 4
    assert all(len(api.stats.workers[pid].issued) == 2 for pid in ids)


def _origins(out: Path, fmt: str) -> set[str]:
    if fmt == "csv":
        return {row["origin"] for row in csv.DictReader(out.read_text().splitlines())}
    return {record["origin"] for record in read_jsonl(out)}


def test_an_interrupted_rotation_is_finished_by_the_next_run_without_a_second_reissue(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(5)
    api = sim(rate=None)
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.jsonl"
    assert _real_run(api.base_url, src, out, token="old-token").exit_code == 0
    first = _real_run(api.base_url, src, out, "--resume", "--limit", "2", token="new-token")
    assert first.exit_code == 0, first.stderr  # a canary: it stops after 2 IDs
    assert "origin_changed" in first.names()
    prev = Path(f"{out}.prev")
    assert prev.exists()  # the run did not finish: every old token is still on disk
    assert len(read_jsonl(prev)) == 5
    rest = _real_run(api.base_url, src, out, "--resume", token="new-token")
    assert rest.exit_code == 0, rest.stderr
    assert "origin_changed" not in rest.names()
    assert rest.event("run_finished")["skipped"] == 2
    assert not prev.exists()
    assert sorted(len(api.stats.workers[pid].issued) for pid in ids) == [2] * 5


def test_the_resume_command_after_a_401_works_once_a_new_token_is_installed(
    sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = new_ids(3)
    api = sim(rate=None, token="old-token")
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.jsonl"
    assert _real_run(api.base_url, src, out, token="old-token").exit_code == 0
    api.config.token = "new-token"  # the organization token was rotated at Deel
    nightly = ("worker-tokens", str(src), "-o", str(out), "--base-url", api.base_url, *FAST,
               "--resume", "--refresh-within", "25h")  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["deel-batch", *nightly])  # what the summary repeats
    refused = run_cli(*nightly, env={"DEEL_API_TOKEN": "old-token"})
    assert refused.exit_code == 3
    command = refused.event("run_finished")["resume"]
    assert "--resume" in command
    # The admin installs the new token and runs the command the summary printed.
    args = shlex.split(command)[1:]
    healed = run_cli(*args, env={"DEEL_API_TOKEN": "new-token"})
    assert healed.exit_code == 0, healed.stderr
    assert "origin_changed" in healed.names()
    assert {r["origin"] for r in read_jsonl(out)} == {origin_of(api.base_url, "new-token")}
    assert all(r["status"] == "ok" for r in read_jsonl(out))


def test_a_file_stamped_by_0_2_0_is_resumed_and_rotated_when_vouched_for(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(2)
    api = sim(rate=None)
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.jsonl"
    old = legacy_origin_of(api.base_url, "old-token")
    ok = {"status": "ok", "token": "wt_x", "expires_at": "2099-01-01T00:00:00Z", "attempts": 1}
    lines = [_stamp({"profile_id": pid, **ok, "line": n}, old) for n, pid in enumerate(ids, 2)]
    out.write_text("".join(lines))
    out.chmod(0o600)
    # Its own token: the old stamp is this run's.
    same = _real_run(api.base_url, src, out, "--resume", token="old-token")
    assert same.exit_code == 0, same.stderr
    assert same.event("run_finished")["skipped"] == 2
    # Another token, and only old stamps: which base URL made them cannot be told.
    before = out.read_bytes()
    unvouched = tmp_path / "unvouched.jsonl"
    unvouched.write_text("".join(lines))
    unvouched.chmod(0o600)
    refused = _real_run(api.base_url, src, unvouched, "--resume", token="new-token")
    assert refused.exit_code == 2
    assert "--overwrite instead of --resume" in refused.event("usage_error")["message"]
    assert unvouched.read_text() == "".join(lines)
    # A record in the new form of this base URL vouches for the old ones: a rotation.
    out.write_bytes(before + _stamp(
        {"profile_id": ids[0], **ok, "line": 2}, origin_of(api.base_url, "old-token")
    ).encode())  # fmt: skip
    rotated = _real_run(api.base_url, src, out, "--resume", token="new-token")
    assert rotated.exit_code == 0, rotated.stderr
    assert "origin_changed" in rotated.names()
    assert rotated.event("run_finished")["ok"] == 2


def test_a_csv_written_before_the_stamp_is_resumed_in_its_own_layout(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(3)
    api = sim(rate=None, unknown_profiles={ids[2]})
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.csv"
    old_header = (
        "profile_id,status,token,expires_at,attempts,line,"
        "error_kind,error_http_status,error_message,error_api_req_id"
    )
    out.write_text(old_header + "\n" + f"{ids[0]},ok,wt_old,2099-01-01T00:00:00+00:00,1,2,,,,\n")
    out.chmod(0o600)
    res = _real_run(api.base_url, src, out, "--resume")
    assert res.exit_code == 1  # ids[2] is unknown
    rows = list(csv.reader(out.read_text().splitlines()))
    assert ",".join(rows[0]) == old_header  # appended in the file's own layout
    assert all(len(row) == len(rows[0]) for row in rows)
    assert sorted(api.stats.per_profile) == sorted(ids[1:])


def test_jsonl_records_carry_the_origin(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    out = tmp_path / "tokens.jsonl"
    assert _real_run(api.base_url, write_csv(tmp_path / "in.csv", new_ids(2)), out).exit_code == 0
    expected = origin_of(api.base_url, ENV["DEEL_API_TOKEN"])
    assert {record["origin"] for record in read_jsonl(out)} == {expected}
