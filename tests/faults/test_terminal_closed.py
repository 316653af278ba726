"""The ssh session drops: the terminal goes away under the run, then SIGHUP comes.

The run is started on a real pty (its standard input, output and error), whose
master is then closed, as sshd does when the connection drops: every write to
the terminal fails from then on (EIO). The run must still end as the signal
says (129), with its errors file, metrics file and summary (in the log file)
written; a run that outlives its terminal ends as it would have.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import StartSim
from tests.faults._helpers import batch, env, parse_events, wait_for
from tests.helpers import new_ids, read_jsonl, write_csv

pytestmark = pytest.mark.slow


def on_a_terminal_that_goes_away(
    args: list[str], cwd: Path, *, shown: str
) -> subprocess.Popen[bytes]:
    """Start ``deel-batch ARGS`` on a fresh pty; close the pty's master once the screen
    shows ``shown`` (the run is under way on it). The process is left running."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        batch(*args),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=env(TERM="xterm-256color", COLUMNS="120"),
        start_new_session=True,
    )
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 30
    while shown.encode() not in screen:
        assert time.monotonic() < deadline, f"the screen never showed {shown!r}: {screen!r}"
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                screen += os.read(master, 65536)
            except OSError:
                break
    os.close(master)  # the ssh session is gone: writes to the terminal now fail
    return proc


def test_sighup_after_the_terminal_closed_ends_129_with_every_file(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, latency=0.05)
    ids = new_ids(300)
    src = write_csv(tmp_path / "in.csv", ids)
    out, errors, metrics, log = (
        tmp_path / n for n in ("out.jsonl", "err.csv", "m.prom", "run.log")
    )
    args = ["worker-tokens", str(src), "-o", str(out), "--errors", str(errors),
            "--metrics-file", str(metrics), "--log-file", str(log), "--base-url", api.base_url,
            "--rate", "20"]  # fmt: skip
    proc = on_a_terminal_that_goes_away(args, tmp_path, shown="rows")  # the progress bar
    wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 5, "records written")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(30) == 129

    events = parse_events(log.read_text())
    assert not [e for e in events if e["event"] == "internal_error"]
    finished = [e for e in events if e["event"] == "run_finished"]
    assert len(finished) == 1
    assert finished[0]["signal"] == "SIGHUP"
    records = read_jsonl(out)
    assert 5 <= len(records) < len(ids)
    assert finished[0]["ok"] == len(records)
    assert errors.read_text().startswith("profile_id,")  # the errors file was put in place
    assert "deel_batch_exit_code 129.0" in metrics.read_text()


def test_a_run_that_outlives_its_terminal_ends_as_it_would_have(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, latency=0.05)
    ids = new_ids(40)
    src = write_csv(tmp_path / "in.csv", ids)
    out, errors, metrics = tmp_path / "out.jsonl", tmp_path / "err.csv", tmp_path / "m.prom"
    # no --log-file: the console log, the bar and the summary all go to the dead terminal
    args = ["worker-tokens", str(src), "-o", str(out), "--errors", str(errors),
            "--metrics-file", str(metrics), "--base-url", api.base_url, "--rate", "20"]  # fmt: skip
    proc = on_a_terminal_that_goes_away(args, tmp_path, shown="in.csv")
    assert proc.wait(60) == 0
    assert sorted(r["profile_id"] for r in read_jsonl(out)) == sorted(ids)
    assert errors.read_text().count("\n") == 1  # the header alone: nothing failed
    assert "deel_batch_exit_code 0.0" in metrics.read_text()
