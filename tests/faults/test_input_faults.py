"""Inputs that hang or blow up a reader: a FIFO no one writes to, a JSON array nested
200,000 deep, a file that is mostly one ID repeated."""

from __future__ import annotations

import os
import resource
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import StartSim
from tests.faults._helpers import parse_events, run_batch, spawn, wait_for
from tests.helpers import new_ids

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_the_wait_for_a_fifo_no_one_writes_to(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    err = tmp_path / "stderr"
    proc = spawn(["worker-tokens", str(fifo), "-o", str(tmp_path / "out.jsonl"), "--simulate",
                  "--log-format", "json"], cwd=tmp_path, stderr=err)  # fmt: skip
    # blocked in open() of the FIFO: it has said so much as its start and no more
    wait_for(lambda: proc.poll() is None and _waiting_in_open(proc.pid), "the run opens the FIFO")
    sent = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(10) == code  # not minutes: the first signal ends the wait
    assert time.monotonic() - sent < 5
    (finished,) = [e for e in parse_events(err.read_text()) if e["event"] == "run_finished"]
    assert finished["requests"] == 0


def _waiting_in_open(pid: int) -> bool:
    """Whether a thread of ``pid`` is blocked in a FIFO's open (Linux: ``wait_for_partner``)."""
    try:
        return any(
            (task / "wchan").read_text() == "wait_for_partner"
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
    except OSError:
        return False


def _one_gib() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_a_json_array_nested_200000_deep_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)  # 400 KB
    ran = run_batch(["worker-tokens", str(deep), "-o", str(tmp_path / "out.jsonl"),
                     "--simulate", "--log-format", "json"],
                    cwd=tmp_path, preexec_fn=_one_gib)  # fmt: skip
    assert ran.code == 2, ran.stderr  # before: the C backend grew to 24 GB, OOM-killed
    (error,) = [e for e in ran.events if e["event"] == "usage_error"]
    assert str(deep) in error["message"]
    assert "nested more than" in error["message"]
    assert not ran.plain_lines()


def test_a_duplicate_heavy_file_is_logged_once_per_id_not_once_per_row(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(3)
    rows = 60_000
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + "".join(f"{ids[i % 3]}\n" for i in range(rows)))
    ran = run_batch(["worker-tokens", str(src), "-o", str(tmp_path / "out.jsonl"),
                     "--base-url", api.base_url, "--rate", "500", "--log-format", "json"],
                    cwd=tmp_path)  # fmt: skip
    assert ran.code == 0, ran.stderr[-2000:]
    finished = ran.event("run_finished")
    assert (finished["ok"], finished["duplicates"]) == (3, rows - 3)
    assert api.stats.requests == 3
    # the cost of a repeat is counting it: its log lines are few, not one per row
    assert len(ran.events) < rows / 100, len(ran.events)
