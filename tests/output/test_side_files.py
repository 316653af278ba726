"""The results file's companions and the run's signals tell the truth (real processes).

- the errors file's format follows its name, and any errors file re-runs as INPUT;
- the errors file is replaced whole when a run ends: a run stopped early keeps the
  IDs it did not get to, never an empty header in between;
- SIGHUP stops like SIGTERM (grace, summary, metrics) with 129;
- an option click refuses still reaches --metrics-file;
- a closed standard output ends the run quietly with 141.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

pytestmark = pytest.mark.slow


def _until(condition: object, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Wait for ``condition()`` (an event the run causes), failing fast if the run ends."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert proc.poll() is None, "the run ended before the moment the test waits for"
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.01)


def _spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "batch", "worker-tokens", *args, "--log-format", "json"]
    with log.open("ab") as handle:
        return subprocess.Popen(
            command, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=handle
        )


def _events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("name", ["failed.jsonl", "failed.csv"])
def test_an_errors_file_re_runs_as_input_with_exactly_the_failing_ids(
    sim: StartSim, tmp_path: Path, name: str
) -> None:
    ids = new_ids(6)
    api = sim(rate=None, unknown_profiles=set(ids[:2]))
    src = write_csv(tmp_path / "in.csv", [*ids, "not-an-id"])
    out, errors = tmp_path / "tokens.jsonl", tmp_path / name
    first = run_cli("worker-tokens", str(src), "-o", str(out), "--errors", str(errors),
                    "--base-url", api.base_url, "--rate", "500", "--log-format", "json",
                    env=ENV)  # fmt: skip
    assert first.exit_code == 1
    if name.endswith(".jsonl"):
        failed = [json.loads(line) for line in errors.read_text().splitlines()]
        assert {r["status"] for r in failed} == {"error"}
        keys = sorted(r["profile_id"] for r in failed)
    else:
        keys = sorted(row["profile_id"] for row in csv.DictReader(errors.read_text().splitlines()))
    assert keys == sorted([*ids[:2], "not-an-id"])

    fixed = sim(rate=None)  # the two profiles exist now
    again = run_cli("worker-tokens", str(errors), "-o", str(out), "--resume",
                    "--base-url", fixed.base_url, "--rate", "500", "--log-format", "json",
                    env=ENV)  # fmt: skip
    assert again.exit_code == 1  # the invalid row still is
    assert sorted(fixed.stats.per_profile) == sorted(ids[:2])  # only the failing IDs were sent
    finished = again.event("run_finished")
    assert (finished["ok"], finished["failed"], finished["invalid"]) == (2, 0, 1)
    junk = [r for r in read_jsonl(out) if "not valid JSON" in str(r.get("error"))]
    assert junk == []


def test_a_stopped_resume_keeps_the_ids_it_did_not_get_to_in_the_errors_file(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(8)
    failing = ids[:3]
    api = sim(rate=None, unknown_profiles=set(failing))
    src = write_csv(tmp_path / "in.csv", ids)
    out, errors = tmp_path / "tokens.jsonl", tmp_path / "failed.csv"
    first = run_cli("worker-tokens", str(src), "-o", str(out), "--errors", str(errors),
                    "--base-url", api.base_url, "--rate", "500", "--log-format", "json",
                    env=ENV)  # fmt: skip
    assert first.exit_code == 1
    before = errors.read_text()

    # The nightly re-run: the API now stalls, and the run is stopped by SIGTERM while
    # the first failing ID is in flight; the other two are never attempted.
    stalled = sim(rate=None, p_stall=1.0)
    log = tmp_path / "run.log"
    proc = _spawn(str(src), "-o", str(out), "--resume", "--errors", str(errors),
                  "--base-url", stalled.base_url, "--concurrency", "1", "--grace", "0.2",
                  log=log)  # fmt: skip
    _until(lambda: stalled.stats.requests >= 1, proc)
    assert errors.read_text() == before  # not emptied while the run goes on
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 143
    rows = list(csv.DictReader(errors.read_text().splitlines()))
    assert sorted(row["profile_id"] for row in rows) == sorted(failing)
    kinds = sorted(row["error_kind"] for row in rows)
    assert kinds == ["aborted", "http", "http"]  # one cut off now, two carried over
    assert oct(errors.stat().st_mode & 0o777) == "0o600"
    assert not list(tmp_path.glob(".failed.csv.*.tmp"))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGHUP, 129), (signal.SIGTERM, 143)])
def test_sighup_and_sigterm_stop_with_grace_summary_and_metrics(
    sim: StartSim, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    ids = new_ids(200)
    api = sim(rate=None, latency=0.05, plan={ids[-1]: ["stall"]})  # it cannot end on its own
    src = write_csv(tmp_path / "in.csv", ids)
    out, metrics, log = tmp_path / "tokens.jsonl", tmp_path / "run.prom", tmp_path / "run.log"
    proc = _spawn(str(src), "-o", str(out), "--base-url", api.base_url, "--rate", "40",
                  "--metrics-file", str(metrics), log=log)  # fmt: skip
    _until(lambda: out.exists() and out.read_bytes().count(b"\n") >= 10, proc)
    proc.send_signal(signum)
    assert proc.wait(10) == code
    records = read_jsonl(out)
    finished = [e for e in _events(log) if e["event"] == "run_finished"][-1]
    assert finished["signal"] == signum.name
    assert finished["ok"] + finished["failed"] == len(records)
    assert finished["ok"] + finished["failed"] + finished["not_attempted"] == len(ids)
    text = metrics.read_text()
    assert f"deel_batch_exit_code {float(code)}" in text
    assert "deel_batch_running 0.0" in text


def test_an_option_click_refuses_still_reaches_the_metrics_file(tmp_path: Path) -> None:
    metrics = tmp_path / "run.prom"
    res = run_cli("worker-tokens", "in.csv", "--rate", "abc", "--metrics-file", str(metrics))
    assert res.exit_code == 2
    assert "deel_batch_exit_code 2.0" in metrics.read_text()
    typo = run_cli("worker-tokens", "in.csv", f"--metrics-file={metrics}", "--reusme")
    assert typo.exit_code == 2
    assert "deel_batch_exit_code 2.0" in metrics.read_text()


def test_a_closed_standard_output_ends_quietly_with_141(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(60))
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch", "worker-tokens", str(src), "--simulate", "--rate", "50",
         "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **ENV},
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert json.loads(first)["status"] == "ok"
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 141
    text = err.decode()
    assert "Traceback" not in text
    assert "standard output was closed" in text
    assert "free some space" not in text


@pytest.mark.parametrize("name", ["failed.csv", "failed.jsonl"])
def test_a_re_run_of_an_errors_file_keeps_the_original_lines(
    sim: StartSim, tmp_path: Path, name: str
) -> None:
    """Line numbers always point into the first input, however many re-runs of errors files
    come after it, and an invalid row already recorded is not recorded again."""
    ids = new_ids(4)
    src = tmp_path / "in.csv"
    # line 2, 3: ok; line 4: unknown profile; line 5: invalid; line 6: ok
    src.write_text("profile_id\n" + f"{ids[0]}\n{ids[1]}\n{ids[2]}\nnot-an-id\n{ids[3]}\n")
    api = sim(rate=None, unknown_profiles={ids[2]})
    out = tmp_path / "tokens.jsonl"
    first_errors, second_errors = tmp_path / name, tmp_path / f"again-{name}"
    args = ("--base-url", api.base_url, "--rate", "500", "--log-format", "json")
    first = run_cli("worker-tokens", str(src), "-o", str(out), "--errors", str(first_errors),
                    *args, env=ENV)  # fmt: skip
    assert first.exit_code == 1
    for errors_in, errors_out in ((first_errors, second_errors), (second_errors, first_errors)):
        again = run_cli("worker-tokens", str(errors_in), "-o", str(out), "--resume",
                        "--errors", str(errors_out), *args, env=ENV)  # fmt: skip
        assert again.exit_code == 1
        records = read_jsonl(out)
        retried = [r for r in records if r["profile_id"] == ids[2]]
        assert [r["line"] for r in retried] == [4] * len(retried)
        invalid = [r for r in records if r.get("error", {}).get("kind") == "invalid_input"]
        assert [(r["line"], r["profile_id"]) for r in invalid] == [(5, "not-an-id")]
        if name.endswith(".csv"):
            lines = sorted(int(row["line"]) for row in csv.DictReader(
                errors_out.read_text().splitlines()))  # fmt: skip
        else:
            lines = sorted(json.loads(x)["line"] for x in errors_out.read_text().splitlines())
        assert lines == [4, 5]
