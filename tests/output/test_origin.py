"""A results file knows where its tokens came from; --resume never mixes origins."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from batch.output import origin_of
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
    assert len(one) == 16
    assert "secret" not in one
    assert one == origin_of("https://api.example.com/rest/v2/", "secret-token-1")
    assert one != origin_of("https://api.example.com/rest/v2", "secret-token-2")
    assert one != origin_of("https://api-staging.example.com/rest/v2", "secret-token-1")
    assert origin_of("http://127.0.0.1:8080/v2", "t") == origin_of("http://127.0.0.1:9090/v2", "t")
    assert origin_of("whatever", "t", simulated=True) == "simulated"


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


def test_another_organization_or_api_is_refused(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(3)
    api = sim(rate=None)
    src, out = write_csv(tmp_path / "in.csv", ids), tmp_path / "tokens.jsonl"
    assert _real_run(api.base_url, src, out).exit_code == 0
    other_org = _real_run(api.base_url, src, out, "--resume", token="another-org-token-99")
    assert other_org.exit_code == 2
    assert "another API or organization" in other_org.stderr
    assert "API token that has since changed (rotated?)" in other_org.stderr
    assert "another-org-token-99" not in other_org.stderr
    staging = _real_run(api.base_url.replace("/rest/v2", "/staging/rest/v2"), src, out, "--resume")
    assert staging.exit_code == 2
    same = _real_run(api.base_url, src, out, "--resume")
    assert same.exit_code == 0
    assert same.event("run_finished")["skipped"] == 3


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
