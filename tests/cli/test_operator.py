"""What cron jobs and monitoring see: progress events, the metrics file, --refresh-within."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import StartSim, VirtualSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv


def test_progress_events_and_metrics_file(virtual_sim: VirtualSim, tmp_path: Path) -> None:
    # On virtual time: 2.4 s of pacing at 10/s hold seven 0.3 s ticks, however busy the machine.
    virtual_sim(rate=None, latency=0.05)
    ids = new_ids(24)
    metrics = tmp_path / "deel.prom"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", [*ids, "bad"])), "-o", str(tmp_path / "o.jsonl"),
        "--simulate", "--rate", "10", "--progress-interval", "0.3",
        "--metrics-file", str(metrics), "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert res.exit_code == 1
    progress = [e for e in res.events if e["event"] == "progress"]
    assert len(progress) >= 2
    assert all(e["total"] == 25 for e in progress)
    assert progress[0]["done"] < progress[-1]["done"] <= 25
    assert {"ok", "failed", "invalid", "requests", "retries", "rate_limited", "rate"} <= set(
        progress[0]
    )
    text = metrics.read_text()
    assert 'deel_batch_records{status="ok"} 24.0' in text
    assert 'deel_batch_records{status="invalid"} 1.0' in text
    assert "deel_batch_requests 24.0" in text
    assert "deel_batch_exit_code 1.0" in text
    assert "deel_batch_running 0.0" in text
    # "The end of the last run whose records were all ok" (README): not this one (exit 1).
    assert "deel_batch_last_success_timestamp_seconds" not in text
    assert not list(tmp_path.glob("deel.prom.*"))  # the temporary file was renamed, not left


def _set_expiry(path: Path, profile_id: str, when: datetime) -> None:
    records = read_jsonl(path)
    for record in records:
        if record["profile_id"] == profile_id:
            record["expires_at"] = when.isoformat().replace("+00:00", "Z")
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_refresh_within_reissues_only_tokens_about_to_expire(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    ids = new_ids(5)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "tokens.jsonl"
    args = (
        "worker-tokens",
        str(src),
        "-o",
        str(out),
        "--base-url",
        api.base_url,
        "--rate",
        "500",
        "--log-format",
        "json",
    )
    assert run_cli(*args, env=ENV).exit_code == 0

    nightly = run_cli(*args, "--resume", "--refresh-within", "2h", env=ENV)
    assert nightly.exit_code == 0
    assert nightly.event("run_finished")["skipped"] == 5
    assert api.stats.requests == 5  # all still valid for ~24 h: nothing re-issued

    now = datetime.now(UTC)
    _set_expiry(out, ids[0], now + timedelta(minutes=90))
    _set_expiry(out, ids[1], now - timedelta(hours=1))
    again = run_cli(*args, "--resume", "--refresh-within", "2h", env=ENV)
    assert again.exit_code == 0, again.stderr
    assert again.event("run_finished")["skipped"] == 3
    assert sorted(api.stats.per_profile[p] for p in ids) == [1, 1, 1, 2, 2]
    newest: dict[str, dict[str, object]] = {}
    for record in read_jsonl(out):
        newest[str(record["profile_id"])] = record
    for pid in ids[:2]:
        assert newest[pid]["token"] == api.stats.issued[pid][-1]  # appended, newest wins


def test_refresh_within_needs_resume(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1))
    res = run_cli("worker-tokens", str(src), "-o", str(tmp_path / "o.jsonl"), "--refresh-within", "2h",
                  "--log-format", "json", env=ENV)  # fmt: skip
    assert res.exit_code == 2
    assert "--refresh-within works with --resume" in res.stderr


def test_refresh_within_rejects_a_non_duration(tmp_path: Path) -> None:
    res = run_cli(
        "worker-tokens", "x.csv", "--resume", "-o", str(tmp_path / "o"), "--refresh-within", "soon"
    )
    assert res.exit_code == 2
    assert "'soon' is not a duration (examples: 90m, 2h, 1h30m)" in res.stderr


def test_dry_run_estimates_the_duration(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1000))
    res = run_cli("worker-tokens", str(src), "--dry-run", "--log-format", "console", env={})
    assert res.exit_code == 0
    assert "would send:     1,000 calls, about 3 min 22s at --rate 5 (4.95/s effective)" in (
        res.stderr
    )
    event = run_cli("worker-tokens", str(src), "--dry-run", "--log-format", "json", env={})
    assert event.event("dry_run")["estimated_s"] == 201.8


def test_metrics_record_runs_that_never_started_and_keep_the_last_success(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    metrics = tmp_path / "m.prom"
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    args = (
        "worker-tokens",
        str(src),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--metrics-file",
        str(metrics),
        "--log-format",
        "json",
    )
    assert run_cli(*args, "--base-url", api.base_url, env=ENV).exit_code == 0
    first = metrics.read_text()
    success = next(
        line
        for line in first.splitlines()
        if line.startswith("deel_batch_last_success_timestamp_seconds ")
    )

    missing_token = run_cli(*args, env={"DEEL_API_TOKEN": ""})
    assert missing_token.exit_code == 2
    text = metrics.read_text()
    assert "deel_batch_exit_code 2.0" in text
    assert success in text  # carried over: an alert on its age keeps working

    down = run_cli(
        *args,
        "--overwrite",
        "--base-url",
        "http://127.0.0.1:9/rest/v2",
        "--max-attempts",
        "1",
        env=ENV,
    )
    assert down.exit_code == 1
    text = metrics.read_text()
    assert "deel_batch_exit_code 1.0" in text
    assert success in text


@pytest.mark.slow
def test_standard_input_is_streamed_not_read_to_the_end_first(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(2)
    out = tmp_path / "o.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch", "worker-tokens", "-", "-o", str(out), "--base-url", api.base_url, "--log-format", "json"],
        stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, **ENV},
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(f"profile_id\n{ids[0]}\n".encode())
    proc.stdin.flush()
    deadline = time.monotonic() + 30  # only a hang guard: the wait ends with the first record
    while time.monotonic() < deadline and not (out.exists() and out.read_text()):
        time.sleep(0.02)
    assert [r["profile_id"] for r in read_jsonl(out)] == [ids[0]]  # done while stdin is still open
    proc.stdin.write(f"{ids[1]}\n".encode())
    proc.stdin.close()
    assert proc.wait(10) == 0
    assert sorted(r["profile_id"] for r in read_jsonl(out)) == sorted(ids)


def test_a_run_with_nothing_to_do_is_a_success_for_monitoring(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    metrics = tmp_path / "m.prom"
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    args = ("worker-tokens", str(src), "-o", str(tmp_path / "o.jsonl"), "--metrics-file", str(metrics),
            "--base-url", api.base_url, "--log-format", "json")  # fmt: skip
    assert run_cli(*args, env=ENV).exit_code == 0
    before = float(next(ln.split()[1] for ln in metrics.read_text().splitlines()
                        if ln.startswith("deel_batch_last_success_timestamp_seconds ")))  # fmt: skip
    time.sleep(0.05)
    nothing = run_cli(*args, "--resume", env=ENV)
    assert nothing.exit_code == 0
    assert nothing.event("run_finished")["skipped"] == 2
    after = float(next(ln.split()[1] for ln in metrics.read_text().splitlines()
                       if ln.startswith("deel_batch_last_success_timestamp_seconds ")))  # fmt: skip
    assert after > before


def test_dry_run_with_resume_counts_only_what_would_be_sent(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    ids = new_ids(5)
    src = write_csv(tmp_path / "in.csv", ids[:3])
    out = tmp_path / "tokens.jsonl"
    base = ("worker-tokens", "-o", str(out), "--log-format", "json")
    assert run_cli(*base, str(src), "--base-url", api.base_url, env=ENV).exit_code == 0
    bigger = write_csv(tmp_path / "in2.csv", ids)
    res = run_cli(*base, str(bigger), "--resume", "--dry-run", env={})
    assert res.exit_code == 0
    report = res.event("dry_run")
    assert (report["valid"], report["kept"], report["would_send"]) == (5, 3, 2)
    text = run_cli(*base[:-1], "console", str(bigger), "--resume", "--dry-run", env={})
    assert "already ok:     3 (in the results file: not sent again)" in text.stderr
    assert api.stats.requests == 3  # nothing sent by the dry run
