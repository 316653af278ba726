"""Answers no record can keep exactly, from a real server on loopback: the run keeps a
record for the ID (the token as issued, or the answer refused and asked again) and goes on.

The simulator's plan serves them on real HTTP, as a server would send them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartSim
from tests.faults._helpers import run_batch
from tests.helpers import new_ids, read_jsonl, write_csv

pytestmark = pytest.mark.slow


def _run(api_url: str, src: Path, out: Path, cwd: Path) -> tuple[int, list[dict[str, Any]]]:
    ran = run_batch(["worker-tokens", str(src), "-o", str(out), "--base-url", api_url,
                     "--rate", "500", "--log-format", "json"], cwd=cwd)  # fmt: skip
    assert not ran.plain_lines(), ran.stderr  # JSON mode: every line for `| jq`
    assert not [e for e in ran.events if e["event"] == "internal_error"]
    return ran.code, ran.events


@pytest.mark.parametrize("fault", ["token_surrogate", "duplicate_keys"])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_an_answer_no_file_can_keep_is_asked_again_and_the_batch_goes_on(
    sim: StartSim, tmp_path: Path, fault: str, suffix: str
) -> None:
    ids = new_ids(6)
    api = sim(rate=None, plan={ids[1]: [fault], ids[4]: [fault]})
    out = tmp_path / f"out{suffix}"
    code, events = _run(api.base_url, write_csv(tmp_path / "in.csv", ids), out, tmp_path)
    assert code == 0
    saved = _tokens(out)
    assert sorted(saved) == sorted(ids)  # every ID has its record, the rest went on
    for pid in ids:  # what is saved is the token that works now, exactly
        assert saved[pid] == api.stats.workers[pid].active
    refused = [e for e in events if e["event"] == "retrying"]
    assert sorted(e["key"] for e in refused) == sorted([ids[1], ids[4]])
    assert all(e["kind"] == "invalid_response" for e in refused)


def test_a_token_with_cr_lf_is_never_saved_altered_in_a_csv(sim: StartSim, tmp_path: Path) -> None:
    ids = new_ids(4)
    api = sim(rate=None, plan={ids[2]: ["token_crlf"]})
    out = tmp_path / "out.csv"
    code, _ = _run(api.base_url, write_csv(tmp_path / "in.csv", ids), out, tmp_path)
    assert code == 0
    saved = _tokens(out)
    assert sorted(saved) == sorted(ids)
    assert saved[ids[2]] == api.stats.workers[ids[2]].active
    assert "\\r" not in out.read_text()  # never the literal text of an escape


@pytest.mark.parametrize("status", ["301", "302", "307"])
def test_a_redirect_is_a_failure_that_shows_its_location(
    sim: StartSim, tmp_path: Path, status: str
) -> None:
    ids = new_ids(3)
    api = sim(rate=None, plan={ids[0]: [status]})
    out = tmp_path / "out.jsonl"
    code, _ = _run(api.base_url, write_csv(tmp_path / "in.csv", ids), out, tmp_path)
    assert code == 1
    (failed,) = [r for r in read_jsonl(out) if r["status"] == "error"]
    assert failed["profile_id"] == ids[0]
    assert failed["error"]["http_status"] == int(status)
    message = failed["error"]["message"]
    assert message.startswith("an answer with no error message (application/json)")
    assert f"Location: {api.base_url}/moved/workers/session" in message
    assert api.stats.followed_redirects == 0  # never followed: the token stays here


def _tokens(out: Path) -> dict[str, str]:
    if out.suffix == ".csv":
        with out.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {r["profile_id"]: r["token"] for r in rows if r["status"] == "ok"}
