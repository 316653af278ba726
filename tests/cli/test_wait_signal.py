"""A run waiting for the results file (--wait) still stops at once on a signal.

Under systemd or cron a stop sends SIGTERM; a run queued behind another with
`--wait 600` must not ignore it for ten minutes and then claim exit 75.
"""

from __future__ import annotations

import fcntl
import signal
import time
from pathlib import Path

import pytest

from tests.cli.test_durability import events, spawn, wait_for_event
from tests.conftest import StartSim
from tests.helpers import new_ids, write_csv

pytestmark = pytest.mark.slow


def test_a_signal_ends_the_wait_for_the_lock(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    out = tmp_path / "out.jsonl"
    metrics = tmp_path / "m.prom"
    with out.open("ab") as held:  # another run holds the results file
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        proc = spawn(api.base_url, src, out, "--wait", "120", "--metrics-file", str(metrics))
        try:
            wait_for_event(out, "waiting_for_lock", proc)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 143
            assert time.monotonic() - sent < 20  # not the whole --wait
        finally:
            proc.kill()
            proc.wait(10)
    assert [e["event"] for e in events(out)][-2:] == ["interrupted", "run_finished"]
    assert not metrics.exists()  # the metrics belong to the run at work
    assert out.read_bytes() == b""
    assert api.stats.requests == 0
