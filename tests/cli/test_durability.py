"""Crash, signal and overlap behaviour on real subprocesses, then --resume: the same for
every job (parametrised by it), each as the API's own rules make it (a DELETE whose
record a crash lost finds no active token the second time)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartSim
from tests.helpers import ENV, JOBS, done_by, job_args, new_ids, read_jsonl, run_cli, write_csv

pytestmark = pytest.mark.slow


def spawn(
    base_url: str, src: Path, out: Path, *extra: str, job: str = "worker-tokens"
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "batch", job, str(src), "-o", str(out), *job_args(job)]
    args += ["--base-url", base_url, "--log-format", "json", "--backoff-base", "0.01", *extra]
    with (out.parent / f"{out.name}.log").open("ab") as log:
        return subprocess.Popen(
            args, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=log
        )


def wait_for_lines(
    path: Path, count: int, proc: subprocess.Popen[bytes], timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert proc.poll() is None, "the run ended before it was interrupted"
        time.sleep(0.01)
    raise AssertionError(f"{path} never reached {count} lines")


def events(out: Path) -> list[dict[str, Any]]:
    text = (out.parent / f"{out.name}.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Wait for an event (a log line, a server-side counter); the timeout only catches a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def wait_for_event(out: Path, name: str, proc: subprocess.Popen[bytes]) -> None:
    def logged() -> bool:
        assert proc.poll() is None, f"the run ended before logging {name!r}"
        return any(e["event"] == name for e in events(out))

    wait_for(logged, f"a {name!r} line")


def catches(pid: int, sig: signal.Signals) -> bool:
    """The process has its own handler for ``sig`` (Linux: SigCgt in /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (sig - 1) & 1)


def reads_a_pipe(pid: int) -> bool:
    """One of the process's threads is blocked reading a pipe (Linux: its wchan); true when
    the kernel hides wchan (it reads "0"), where `catches` has to do."""
    chans = [(task / "wchan").read_text() for task in Path(f"/proc/{pid}/task").iterdir()]
    return all(chan in ("", "0") for chan in chans) or any("pipe_read" in c for c in chans)


def newest_per_id(out: Path) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for record in read_jsonl(out):
        newest[record["profile_id"]] = record
    return newest


def resume(job: str, src: Path, out: Path, base_url: str, *extra: str) -> Any:
    return run_cli(job, str(src), "-o", str(out), "--base-url", base_url, "--rate", "500",
                   "--log-format", "json", "--resume", *job_args(job), *extra, env=ENV)  # fmt: skip


def revoked_once(api: Any, ids: list[str]) -> bool:
    """Each ID's token was revoked exactly once (the simulator's own account)."""
    return all(len(api.stats.workers[pid].revoked) == 1 for pid in ids)


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.parametrize("after_lines", [1, 40, 150])
def test_kill_9_then_resume_gives_each_id_once(
    sim: StartSim, tmp_path: Path, after_lines: int, job: str
) -> None:
    ids = new_ids(200)
    # The last ID stalls once: the run cannot end before it is killed, however late the kill.
    api = sim(rate=None, latency=0.02, plan={ids[-1]: ["stall"]})
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    proc = spawn(api.base_url, src, out, "--rate", "200", "--concurrency", "16", job=job)
    wait_for_lines(out, after_lines, proc)
    proc.kill()
    assert proc.wait(10) == -signal.SIGKILL
    api.config.plan.clear()  # no more stalls for the resumed run
    ok_before = {r["profile_id"] for r in read_jsonl(out) if r["status"] == "ok"}
    assert len(ok_before) >= after_lines

    resumed = resume(job, src, out, api.base_url)
    assert resumed.event("run_finished")["skipped"] == len(ok_before)
    newest = newest_per_id(out)
    assert sorted(newest) == sorted(ids)
    ok_counts = Counter(r["profile_id"] for r in read_jsonl(out) if r["status"] == "ok")
    assert set(ok_counts.values()) == {1}
    for pid in ok_before:  # nothing was sent again for an ID that already had its record
        assert done_by(api, job)[pid] == 1
    if job == "worker-tokens":
        assert resumed.exit_code == 0, resumed.stderr
        assert all(r["status"] == "ok" for r in newest.values())
        for pid, record in newest.items():
            assert record["token"] in api.stats.issued[pid]
        return
    # A DELETE the API had done when the kill came, its record not yet written, is sent
    # again and finds no active token (a 404): at most one per request in flight.
    assert revoked_once(api, ids)
    lost = {pid for pid, r in newest.items() if r["status"] != "ok"}
    assert len(lost) <= 16
    assert resumed.exit_code == (1 if lost else 0), resumed.stderr
    for pid in lost:
        assert newest[pid]["error"]["http_status"] == 404
        assert done_by(api, job)[pid] == 2


@pytest.mark.parametrize("job", JOBS)
def test_resume_drops_a_torn_last_line(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None)
    ids = new_ids(5)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    first = run_cli(job, str(src), "-o", str(out), "--base-url", api.base_url,
                    "--rate", "500", "--log-format", "json", *job_args(job), env=ENV)  # fmt: skip
    assert first.exit_code == 0
    lines = out.read_bytes().splitlines(keepends=True)
    torn = lines[-1][: len(lines[-1]) // 2]
    out.write_bytes(b"".join(lines[:-1]) + torn)  # as if killed in the middle of a write
    torn_id = json.loads(lines[-1])["profile_id"]

    resumed = resume(job, src, out, api.base_url)
    assert resumed.event("torn_line_dropped")["bytes"] == len(torn)
    records = read_jsonl(out)  # every line parses again
    assert sorted(r["profile_id"] for r in records) == sorted(ids)
    assert done_by(api, job)[torn_id] == 2
    # A new token for the torn one; a revocation already done finds no token the second time.
    assert resumed.exit_code == (0 if job == "worker-tokens" else 1), resumed.stderr


@pytest.mark.parametrize("job", JOBS)
def test_sigterm_stops_cleanly_with_143_and_resume_finishes(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    ids = new_ids(300)
    api = sim(rate=None, latency=0.05, plan={ids[-1]: ["stall"]})  # it cannot end on its own
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    proc = spawn(api.base_url, src, out, "--rate", "40", "--concurrency", "8", "--grace", "30",
                 job=job)  # fmt: skip
    wait_for_lines(out, 20, proc)
    proc.send_signal(signal.SIGTERM)
    # It ends once the requests in flight are answered, long before the 30 s of grace.
    assert proc.wait(20) == 143
    records = read_jsonl(out)  # intact: every line is a whole record
    summary = [e for e in events(out) if e["event"] == "run_finished"][-1]
    assert summary["signal"] == "SIGTERM"
    assert all(r["status"] == "ok" for r in records)  # nothing in flight was cut off
    assert summary["ok"] + summary["failed"] == len(records)
    assert summary["ok"] + summary["failed"] + summary["not_attempted"] == len(ids)
    assert "--resume" in summary["resume"]

    api.config.plan.clear()
    resumed = resume(job, src, out, api.base_url)
    assert resumed.exit_code == 0, resumed.stderr
    newest = newest_per_id(out)
    assert sorted(newest) == sorted(ids)
    assert all(r["status"] == "ok" for r in newest.values())
    assert all(count == 1 for count in done_by(api, job).values())


@pytest.mark.parametrize("job", JOBS)
def test_second_sigint_stops_at_once_and_cut_requests_are_aborted(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    ids = new_ids(20)
    api = sim(rate=None, plan={pid: ["stall"] for pid in ids[4:]}, stall_seconds=30)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    proc = spawn(api.base_url, src, out, "--rate", "100", "--concurrency", "4", "--grace", "30",
                 job=job)  # fmt: skip
    wait_for_lines(out, 4, proc)
    wait_for(lambda: api.stats.injected["stall"] == 4, "four stalled requests on the server")
    proc.send_signal(signal.SIGINT)
    wait_for_event(out, "interrupted", proc)  # the first one is taken: now a second one
    assert proc.poll() is None  # still in its grace period
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 130  # at once: not after the 30 s of grace
    records = read_jsonl(out)
    aborted = [r for r in records if r["status"] == "error"]
    assert aborted
    assert {r["error"]["kind"] for r in aborted} == {"aborted"}
    assert len([r for r in records if r["status"] == "ok"]) == 4


@pytest.mark.parametrize("job", JOBS)
def test_a_second_run_on_the_same_results_file_is_refused(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    ids = new_ids(100)
    api = sim(rate=None, plan={ids[-1]: ["stall"]})  # the first run cannot end on its own
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    proc = spawn(api.base_url, src, out, "--rate", "20", job=job)
    try:
        wait_for_lines(out, 1, proc)
        second = run_cli(job, str(src), "-o", str(out), "--base-url", api.base_url,
                         "--log-format", "json", "--resume", *job_args(job), env=ENV)  # fmt: skip
        assert second.exit_code == 75  # EX_TEMPFAIL: nothing was done, try later
        assert f"is being written by another run (pid {proc.pid})" in second.stderr
    finally:
        proc.kill()
        proc.wait(10)
    api.config.plan.clear()
    # The lock dies with its process: now it works.
    after = resume(job, src, out, api.base_url)
    assert after.exit_code in (0, 1), after.stderr  # 1: a revocation whose record the kill lost
    assert sorted(newest_per_id(out)) == sorted(ids)


@pytest.mark.parametrize("job", JOBS)
def test_errors_file_round_trips(sim: StartSim, tmp_path: Path, job: str) -> None:
    ids = new_ids(6)
    api = sim(rate=None, unknown_profiles={ids[0]}, plan={ids[1]: ["500", "500"]})
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    errors = tmp_path / "failed.csv"
    first = run_cli(job, str(src), "-o", str(out), "--errors", str(errors),
                    "--base-url", api.base_url, "--rate", "500", "--max-attempts", "1",
                    "--log-format", "json", *job_args(job), env=ENV)  # fmt: skip
    assert first.exit_code == 1
    header, *rows = errors.read_text().splitlines()
    assert header.startswith("profile_id,")
    assert sorted(row.split(",")[0] for row in rows) == sorted(ids[:2])
    assert oct(errors.stat().st_mode & 0o777) == "0o600"

    fixed = sim(rate=None)  # the profile exists now, the 500s are gone
    again = run_cli(job, str(errors), "-o", str(out), "--resume", "--base-url",
                    fixed.base_url, "--rate", "500", "--log-format", "json", *job_args(job),
                    env=ENV)  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert sorted(done_by(fixed, job)) == sorted(ids[:2])
    assert all(r["status"] == "ok" for r in newest_per_id(out).values())


@pytest.mark.parametrize("job", JOBS)
def test_sigterm_before_the_header_of_a_quiet_pipe_exits_143_with_metrics(
    tmp_path: Path, job: str
) -> None:
    metrics = tmp_path / "m.prom"
    args = [sys.executable, "-m", "batch", job, "-", "--simulate", "-o", str(tmp_path / "o.jsonl"),
            "--metrics-file", str(metrics), "--log-format", "json", *job_args(job)]  # fmt: skip
    with subprocess.Popen(
        args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **ENV}
    ) as proc:
        # Its own handler is in place and it waits for a header that does not come.
        wait_for(lambda: catches(proc.pid, signal.SIGTERM), "a SIGTERM handler", timeout=30)
        wait_for(lambda: reads_a_pipe(proc.pid), "a read of standard input", timeout=30)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 143
    assert "interrupted (SIGTERM) before any call" in err.decode()
    assert "deel_batch_exit_code 143.0" in metrics.read_text()


@pytest.mark.parametrize("job", JOBS)
def test_wait_queues_a_second_run_behind_the_one_holding_the_file(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    api = sim(rate=None)
    ids = new_ids(30)
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    # The first run reads a pipe: it holds the file until the test ends its input, so it
    # is still running when the second one comes, however slow the machine.
    args = [sys.executable, "-m", "batch", job, "-", "-o", str(out), *job_args(job),
            "--base-url", api.base_url, "--rate", "100", "--log-format", "json"]  # fmt: skip
    with (tmp_path / "first.log").open("ab") as log:
        first = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
            env={**os.environ, **ENV},
        )  # fmt: skip
    second = None
    try:
        assert first.stdin is not None
        first.stdin.write(f"profile_id\n{ids[0]}\n".encode())
        first.stdin.flush()
        wait_for_lines(out, 1, first)
        second = spawn(api.base_url, src, out, "--resume", "--wait", "30", job=job)
        wait_for_event(out, "waiting_for_lock", second)
        first.stdin.write("".join(f"{pid}\n" for pid in ids[1:]).encode())
        first.stdin.close()
        assert first.wait(20) == 0
        assert second.wait(20) == 0  # it waited for the first to finish, then went on
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.kill()
                proc.wait(10)
    finished = [e for e in events(out) if e["event"] == "run_finished"][-1]
    assert finished["skipped"] == 30  # all done by the first: none redone
    assert sum(done_by(api, job).values()) == 30


@pytest.mark.parametrize("job", JOBS)
def test_a_run_refused_by_the_lock_leaves_the_metrics_alone(
    sim: StartSim, tmp_path: Path, job: str
) -> None:
    ids = new_ids(100)
    api = sim(rate=None, plan={ids[-1]: ["stall"]})  # the first run cannot end on its own
    src = write_csv(tmp_path / "in.csv", ids)
    out = tmp_path / "out.jsonl"
    metrics = tmp_path / "m.prom"
    proc = spawn(api.base_url, src, out, "--rate", "20", job=job)
    try:
        wait_for_lines(out, 1, proc)
        second = run_cli(job, str(src), "-o", str(out), "--base-url", api.base_url,
                         "--metrics-file", str(metrics), "--log-format", "json", "--resume",
                         *job_args(job), env=ENV)  # fmt: skip
        assert second.exit_code == 75
        assert not metrics.exists()
    finally:
        proc.kill()
        proc.wait(10)


def test_kill_9_of_a_revocation_leaves_the_results_file_it_revokes_in_step(
    sim: StartSim, tmp_path: Path
) -> None:
    """Each ended record is written before the revocation's own: killed at any moment, the
    results file never shows as current a token whose revocation was recorded. A DELETE the
    API had done when the kill came, with no record yet, is sent again by --resume and meets
    a 404, which ends the record too: worker-tokens --resume then re-issues every ID once."""
    ids = new_ids(120)
    api = sim(rate=None, latency=0.02)
    src = write_csv(tmp_path / "in.csv", ids)
    tokens = tmp_path / "tokens.jsonl"
    made = run_cli("worker-tokens", str(src), "-o", str(tokens), "--base-url", api.base_url,
                   "--rate", "500", "--log-format", "json", env=ENV)  # fmt: skip
    assert made.exit_code == 0, made.stderr
    api.config.plan = {ids[-1]: ["stall"]}
    revoked = tmp_path / "revoked.jsonl"
    proc = spawn(api.base_url, tokens, revoked, "--rate", "200", "--concurrency", "8",
                 job="revoke-tokens")  # fmt: skip
    wait_for_lines(revoked, 30, proc)
    proc.kill()
    assert proc.wait(10) == -signal.SIGKILL
    api.config.plan.clear()
    ended = {
        r["profile_id"] for r in read_jsonl(tokens) if r.get("error", {}).get("kind") == "ended"
    }
    recorded = {r["profile_id"] for r in read_jsonl(revoked) if r["status"] == "ok"}
    gone = {pid for pid, r in api.stats.workers.items() if r.active is None}
    assert recorded <= ended <= gone  # the order of the writes: ended first, then its record

    finished = resume("revoke-tokens", tokens, revoked, api.base_url)
    assert finished.exit_code in (0, 1), finished.stderr  # 1: a DELETE done, its record lost
    assert all(r.active is None for r in api.stats.workers.values())
    assert revoked_once(api, ids)
    reissued = resume("worker-tokens", src, tokens, api.base_url)
    assert reissued.exit_code == 0, reissued.stderr
    assert reissued.event("run_finished")["ok"] == len(ids)
    assert all(len(api.stats.workers[pid].issued) == 2 for pid in ids)
    newest = newest_per_id(tokens)
    assert all(r["token"] == api.stats.workers[pid].active for pid, r in newest.items())
