"""A full disk: the run knows before a token is lost, stops taking IDs, says so (exit 3,
the resume hint), and every count it reports is what is on disk.

A real 128 KiB tmpfs where this test may mount one (root, or a user namespace that
allows it); else a file-size limit (``ulimit -f``), which the tool treats as the end of
the disk, for the cases it can stand for.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import StartSim
from tests.faults._helpers import Ran, run_batch
from tests.helpers import new_ids, read_jsonl, write_csv

pytestmark = pytest.mark.slow

SIZE = 128 * 1024


@dataclass
class SmallDisk:
    folder: Path
    #: None on a real tmpfs; else sets the file-size limit in the run (a stand-in)
    limit: Callable[[], None] | None

    def fill(self) -> None:
        """Leave no room at all on the disk."""
        assert self.limit is None
        fd = os.open(self.folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)


def _fsize_limit() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (SIZE, SIZE))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    folder = tmp_path / "disk"
    folder.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        yield SmallDisk(folder, _fsize_limit)
        return
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        yield SmallDisk(folder, _fsize_limit)
        return
    try:
        yield SmallDisk(folder, None)
    finally:
        subprocess.run([umount, "-l", str(folder)], check=False)


def _run(disk: SmallDisk, args: list[str], cwd: Path) -> Ran:
    return run_batch([*args, "--log-format", "json"], cwd=cwd, preexec_fn=disk.limit)


def _ok_in_metrics(metrics: Path) -> float:
    for line in metrics.read_text().splitlines():
        if line.startswith('deel_batch_records{status="ok"}'):
            return float(line.split()[-1])
    raise AssertionError(metrics.read_text())


def test_results_and_errors_on_a_full_disk_lose_no_token(
    sim: StartSim, small_disk: SmallDisk, tmp_path: Path
) -> None:
    api = sim(rate=None, p_500=0.1, seed=7)
    src = write_csv(tmp_path / "in.csv", new_ids(1500))
    out, errors = small_disk.folder / "out.jsonl", small_disk.folder / "err.csv"
    metrics = tmp_path / "m.prom"
    args = ["worker-tokens", str(src), "-o", str(out), "--errors", str(errors),
            "--base-url", api.base_url, "--rate", "500"]  # fmt: skip
    ran = _run(small_disk, [*args, "--metrics-file", str(metrics)], tmp_path)
    assert ran.code == 3, ran.stderr[-3000:]  # before: internal error (OSError), exit 70
    assert not ran.plain_lines()  # JSON mode: nothing breaks `| jq`
    assert "no room left for more results" in ran.event("run_aborted")["reason"]
    finished = ran.event("run_finished")
    assert "--resume" in finished["resume"]
    saved = [r for r in read_jsonl(out) if r["status"] == "ok"]
    assert len(saved) == api.stats.created  # every token issued is on disk
    assert finished["ok"] == len(saved) == _ok_in_metrics(metrics)  # before: metrics said 0
    assert finished["not_attempted"] > 0

    # --resume on the still-full disk: refused before any call
    before = api.stats.requests
    again = _run(small_disk, [*args, "--resume"], tmp_path)
    assert again.code == 3, again.stderr[-3000:]
    assert not again.plain_lines()
    assert api.stats.requests == before  # before: 4 tokens issued after "stopping", lost
    assert len([r for r in read_jsonl(out) if r["status"] == "ok"]) == api.stats.created


def test_an_errors_file_on_a_full_disk_stops_the_run_with_every_record_kept(
    sim: StartSim, small_disk: SmallDisk, tmp_path: Path
) -> None:
    if small_disk.limit is not None:
        pytest.skip("a file-size limit cannot fill one disk and not another: needs a tmpfs")
    small_disk.fill()
    api = sim(rate=None, p_500=0.5, seed=3)
    src = write_csv(tmp_path / "in.csv", new_ids(400))
    out, metrics = tmp_path / "out.jsonl", tmp_path / "m.prom"
    ran = _run(small_disk, ["worker-tokens", str(src), "-o", str(out),
                            "--errors", str(small_disk.folder / "err.csv"),
                            "--metrics-file", str(metrics), "--base-url", api.base_url,
                            "--rate", "500", "--max-attempts", "1"], tmp_path)  # fmt: skip
    assert ran.code == 3, ran.stderr[-3000:]
    assert not ran.plain_lines()
    assert "cannot write --errors" in ran.event("run_aborted")["reason"]
    saved = [r for r in read_jsonl(out) if r["status"] == "ok"]
    assert len(saved) == api.stats.created
    assert ran.event("run_finished")["ok"] == len(saved) == _ok_in_metrics(metrics)
    assert "deel_batch_exit_code 3.0" in metrics.read_text()
