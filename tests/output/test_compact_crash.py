"""kill -9 at many points while a large results file is rewritten: the old file or the new one,
whole, never a mix, never empty; the next run removes the temporary file and finishes the job."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.slow

IDS = 40_000  # two ok records each: 80,000 lines, 14 MB, half of them superseded


def _line(pid: str, n: int) -> bytes:
    return (
        f'{{"profile_id": "{pid}", "status": "ok", "token": "wt_{n}_{pid.replace("-", "")}", '
        f'"expires_at": "2026-12-0{n}T02:15:00.000Z", "attempts": 1, "line": 2}}\n'
    ).encode()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A results file after two nights, and what compacting it must give."""
    folder = tmp_path_factory.mktemp("large")
    ids = [str(uuid.UUID(int=n + 1)) for n in range(IDS)]
    old = b"".join(_line(pid, 1) for pid in ids) + b"".join(_line(pid, 2) for pid in ids)
    path = folder / "original.jsonl"
    path.write_bytes(old)
    return path, b"".join(_line(pid, 2) for pid in ids)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("at", [-1, 0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.95, 1.0])
def test_kill_9_during_the_rewrite_loses_nothing(
    large: tuple[Path, bytes], tmp_path: Path, at: float
) -> None:
    """``at``: the share of the new file written when the kill comes (-1: before the
    temporary file exists, while the file is being read; 1.0: written whole, before or
    during the fsync and rename)."""
    original, expected = large
    path = tmp_path / "tokens.jsonl"
    shutil.copyfile(original, path)
    path.chmod(0o600)
    old = original.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch", "compact", str(path), "--log-format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 50
    while time.monotonic() < deadline and proc.poll() is None:
        temps = _temps(tmp_path)
        if at < 0 or (temps and _size(temps[0]) >= at * len(expected)):
            break
        time.sleep(0.0005)
    # Frozen first: what it has done by now is what the kill leaves. A busy machine may let
    # it get further than ``at`` (even to the end) before this; the checks follow that.
    proc.send_signal(signal.SIGSTOP)
    writing = bool(_temps(tmp_path))  # the new file exists and is not renamed yet
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    after = path.read_bytes()
    assert _digest(after) in (_digest(old), _digest(expected)), "a mix of old and new"
    assert stat_mode(path) == 0o600
    if 0 <= at < 1 and writing:  # killed while the new file was being written: the old one
        assert after == old
        assert len(_temps(tmp_path)) == 1

    again = run_cli("compact", str(path))  # the next run: cleans up and finishes
    assert again.exit_code == 0, again.stderr
    assert path.read_bytes() == expected
    assert _temps(tmp_path) == []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
