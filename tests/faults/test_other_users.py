"""Another local user plants a symbolic link where the run writes, or may, in a shared
folder: every output path is refused (exit 2) and the file the link points at is
untouched, as ssh's StrictModes and the kernel's protected_symlinks reason.

The other user is real (``nobody``); the test needs root to act as them."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults._helpers import run_batch
from tests.helpers import new_ids, write_csv

pytestmark = pytest.mark.slow


def _other_user() -> int:
    if os.geteuid() != 0:
        pytest.skip("acting as a second local user needs root")
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no 'nobody' user to act as the second local user")


def _plant(uid: int, target: Path, link: Path) -> None:
    """``ln -s TARGET LINK`` as the user ``uid``, in a process of theirs."""
    ln = shutil.which("ln")
    if ln is None:
        pytest.skip("no ln(1) to run as the second local user")
    subprocess.run([ln, "-s", str(target), str(link)], user=uid, check=True)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder all may write, with the sticky bit, as /tmp (the test's own folder is
    private: the other user could not reach into it)."""
    folder = Path(tempfile.mkdtemp(prefix="deel-batch-shared-", dir="/tmp"))
    folder.chmod(0o1777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """Another file of the victim's, readable by all (as /etc/passwd is)."""
    target = tmp_path / "private" / "notes.txt"
    target.parent.mkdir(mode=0o700)
    target.write_text("the victim's own file\n")
    target.chmod(0o644)
    return target


def _untouched(target: Path) -> None:
    assert target.read_text() == "the victim's own file\n"
    assert target.stat().st_mode & 0o777 == 0o644  # before: chmod'ed to 0600


OPTIONS = ["-o", "--errors", "--metrics-file", "--log-file"]
NAMES = {"-o": "out.jsonl", "--errors": "err.csv", "--metrics-file": "m.prom",
         "--log-file": "run.log"}  # fmt: skip


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("mode", ["new", "--overwrite", "--resume"])
def test_a_link_another_user_planted_is_refused_and_its_target_untouched(
    tmp_path: Path, shared: Path, victim: Path, option: str, mode: str
) -> None:
    uid = _other_user()
    planted = shared / NAMES[option]
    _plant(uid, victim, planted)
    assert planted.lstat().st_uid == uid
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    args = ["worker-tokens", str(src), "--simulate", "--log-format", "json",
            option, str(planted)]  # fmt: skip
    if option != "-o":
        args += ["-o", str(tmp_path / "own.jsonl")]
    if mode != "new":
        args.append(mode)
    ran = run_batch(args, cwd=tmp_path)
    assert ran.code == 2, ran.stderr
    message = ran.stderr
    assert "symbolic link owned by user 'nobody'" in message
    assert option in message
    _untouched(victim)


@pytest.mark.parametrize("option", OPTIONS)
def test_a_folder_others_can_write_without_the_sticky_bit_is_refused(
    tmp_path: Path, shared: Path, option: str
) -> None:
    _other_user()
    shared.chmod(0o777)  # anyone may replace the file by a link, at any moment
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    args = ["worker-tokens", str(src), "--simulate", "--log-format", "json",
            option, str(shared / NAMES[option])]  # fmt: skip
    if option != "-o":
        args += ["-o", str(tmp_path / "own.jsonl")]
    ran = run_batch(args, cwd=tmp_path)
    assert ran.code == 2, ran.stderr
    assert "has no sticky bit" in ran.stderr
    assert list(shared.iterdir()) == []  # nothing was made there


def test_compact_refuses_a_link_another_user_planted(tmp_path: Path, shared: Path) -> None:
    uid = _other_user()
    own = tmp_path / "private" / "tokens.jsonl"  # another results file of the victim's
    own.parent.mkdir(mode=0o700)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    made = run_batch(["worker-tokens", str(src), "-o", str(own), "--simulate"], cwd=tmp_path)
    assert made.code == 0, made.stderr
    before = own.read_bytes(), own.stat().st_mtime_ns
    planted = shared / "out.jsonl"
    _plant(uid, own, planted)
    ran = run_batch(["compact", str(planted), "--log-format", "json"], cwd=tmp_path)
    assert ran.code == 2, ran.stderr
    assert "symbolic link owned by user 'nobody'" in ran.stderr
    assert (own.read_bytes(), own.stat().st_mtime_ns) == before
