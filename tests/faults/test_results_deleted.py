"""The results file, or its folder, deleted mid-run (a tmp cleaner, an operator); or
replaced by another file. Nothing is lost: the records are put back at PATH, or rescued
beside it and the run stops, naming where they are."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import StartSim
from tests.faults._helpers import parse_events, spawn, wait_for
from tests.helpers import new_ids, read_jsonl, write_csv

pytestmark = pytest.mark.slow


def _records_written(out: Path, n: int) -> bool:
    return out.exists() and out.read_bytes().count(b"\n") >= n


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_results_file_deleted_mid_run_is_put_back_whole(
    sim: StartSim, tmp_path: Path, what: str
) -> None:
    api = sim(rate=None)
    folder = tmp_path / "results"
    folder.mkdir()
    out, errors = folder / "out.jsonl", folder / "err.csv"
    ids = new_ids(200)
    src = write_csv(tmp_path / "in.csv", ids)
    err = tmp_path / "stderr"
    proc = spawn(["worker-tokens", str(src), "-o", str(out), "--errors", str(errors),
                  "--base-url", api.base_url, "--rate", "40", "--log-format", "json"],
                 cwd=tmp_path, stderr=err)  # fmt: skip
    wait_for(lambda: _records_written(out, 20), "records written")
    if what == "file":
        out.unlink()
    else:
        shutil.rmtree(folder)
    assert proc.wait(60) == 0  # before: exit 0 (or 70 with --errors), the file gone
    events = parse_events(err.read_text())
    assert [e["event"] for e in events if e["event"] == "results_file_restored"]
    records = read_jsonl(out)
    assert sorted(r["profile_id"] for r in records) == sorted(ids)  # all of them, at PATH
    assert {r["token"] for r in records} == {api.stats.workers[i].active for i in ids}
    assert errors.read_text().startswith("profile_id,")


def test_a_results_file_replaced_mid_run_is_rescued_and_named(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    out = tmp_path / "out.jsonl"
    src = write_csv(tmp_path / "in.csv", new_ids(200))
    err = tmp_path / "stderr"
    proc = spawn(["worker-tokens", str(src), "-o", str(out), "--base-url", api.base_url,
                  "--rate", "40", "--log-format", "json"], cwd=tmp_path, stderr=err)  # fmt: skip
    wait_for(lambda: _records_written(out, 20), "records written")
    stranger = b"someone else's file\n"
    out.unlink()
    out.write_bytes(stranger)
    started = time.monotonic()
    assert proc.wait(60) == 3
    assert time.monotonic() - started < 30  # it stopped taking IDs, not ran to the end
    assert out.read_bytes() == stranger  # the other file is not overwritten
    events = parse_events(err.read_text())
    reason = next(e for e in events if e["event"] == "run_aborted")["reason"]
    rescued = [p for p in tmp_path.iterdir() if p.name not in {"out.jsonl", "in.csv", "stderr"}]
    assert len(rescued) == 1, rescued
    assert rescued[0].name in reason  # it says where they are
    saved = [r for r in read_jsonl(rescued[0]) if r["status"] == "ok"]
    assert len(saved) == api.stats.created  # every token issued is in the rescue file
