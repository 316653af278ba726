"""The shared quota: the local file store on an injected clock, Redis for real, and the faults."""

from __future__ import annotations

import array
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from batch.engine import redact_url
from batch.engine._quota import Claim, SharedQuota, parse_quota_store, quota_key
from batch.engine._quota_local import LocalStore, _decode, _encode
from tests.helpers import ENV, new_ids, run_cli, write_csv

WINDOW = 1.01


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Warnings:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        self.seen.append((event, fields))

    # the structlog-style logger SharedQuota takes
    def warning(self, event: str, **fields: Any) -> None:
        self.seen.append((event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.seen.append((event, fields))


def store(tmp_path: Path, clock: Clock, warn: Warnings | None = None, pid: int = 0) -> LocalStore:
    local = LocalStore("k" * 32, warn=warn or Warnings(), directory=tmp_path / "q", clock=clock)
    if pid:
        local._member = f"{pid}:x"  # another process's view of the same file
    return local


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "good", ["local", "none", "redis://h:6379/0", "redis://h", "redis://u:p@h:1/2", "rediss://h/0"]
)
def test_quota_store_values(good: str) -> None:
    assert parse_quota_store(good) == good


@pytest.mark.parametrize(
    "bad", ["", "file", "redis://", "redis://h:port/0", "redis://h/x", "x://h"]
)
def test_malformed_quota_store_values_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a quota store"):
        parse_quota_store(bad)


def test_a_malformed_quota_store_is_exit_2_without_the_password(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1))
    res = run_cli(
        "worker-tokens", str(src), "--quota-store", "redis://admin:hunter2@db:6379/x", env=ENV
    )
    assert res.exit_code == 2
    assert "is not a quota store" in res.stderr
    assert "hunter2" not in res.stderr
    help_text = run_cli(
        "worker-tokens", "--help", env={"DEEL_BATCH_QUOTA_STORE": "redis://a:hunter2@h/0"}
    )
    assert "--quota-store" in help_text.stdout
    assert "hunter2" not in help_text.stdout


def test_safe_url_hides_the_password_only() -> None:
    assert redact_url("redis://admin:hunter2@db:6379/1") == "redis://***@db:6379/1"
    assert redact_url("redis://db:6379/1") == "redis://db:6379/1"


def test_the_key_is_a_hash_of_url_and_token() -> None:
    key = quota_key("https://api.example/rest/v2", "secret-token")
    assert "secret" not in key
    assert key == quota_key("https://api.example/rest/v2/", "secret-token")
    assert key != quota_key("https://api.example/rest/v2", "other-token")
    assert key != quota_key("https://staging.example/rest/v2", "secret-token")


# -- the local store, on an injected clock ---------------------------------------


@pytest.mark.anyio
async def test_two_processes_share_one_window(tmp_path: Path) -> None:
    clock = Clock()
    mine, theirs = store(tmp_path, clock), store(tmp_path, clock, pid=1)
    for i in range(3):
        assert await mine.claim(5, WINDOW) == Claim(0.0)
        clock.now += 0.1
        if i < 2:
            assert await theirs.claim(5, WINDOW) == Claim(0.0)
            clock.now += 0.1
    # Five starts in the window (3 mine, 2 theirs, the first at 1000.0): the sixth waits
    # until the first leaves it, and knows that others took part of the window.
    assert clock.now == pytest.approx(1000.5)
    claim = await theirs.claim(5, WINDOW)
    assert claim.wait == pytest.approx(0.51)
    assert claim.others == 3
    clock.now = 1000.0 + WINDOW + 1e-6
    assert (await theirs.claim(5, WINDOW)).wait == 0.0
    # A run whose pacer has come down to 2 per window yields to the others.
    assert (await mine.claim(2, WINDOW)).wait > 0
    path = tmp_path / "q" / f"quota-{'k' * 32}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.anyio
async def test_a_shared_cooldown_pauses_every_process(tmp_path: Path) -> None:
    clock = Clock()
    mine, theirs = store(tmp_path, clock), store(tmp_path, clock, pid=1)
    await mine.pause(0.2)
    claim = await theirs.claim(5, WINDOW)
    assert claim.wait == pytest.approx(0.2)
    assert claim.others == 0
    clock.now += 0.2
    assert await theirs.claim(5, WINDOW) == Claim(0.0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content",
    [b"{not json", b"batch-quota 2\n{", b"[1, 2, 3]", b'{"some": "other tool"}', b"\x00" * 64,
     b'batch-quota 2\n{"boot": "b", "cool": 0, "members": {}, "ids": [], "n": 3}\n12345'],
)  # fmt: skip
async def test_a_corrupt_or_foreign_state_file_is_replaced_with_a_warning(
    tmp_path: Path, content: bytes
) -> None:
    clock, warn = Clock(), Warnings()
    local = store(tmp_path, clock, warn)
    (tmp_path / "q").mkdir(mode=0o700)
    local.path.write_bytes(content)
    assert await local.claim(5, WINDOW) == Claim(0.0)
    assert [event for event, _ in warn.seen] == ["quota_state_replaced"]
    assert _decode(local.path.read_bytes())["boot"] == local._boot
    assert await local.claim(5, WINDOW) == Claim(0.0)
    assert len(warn.seen) == 1


@pytest.mark.anyio
async def test_times_from_the_future_or_another_boot_do_not_block(tmp_path: Path) -> None:
    clock = Clock()
    local = store(tmp_path, clock)
    await local.claim(5, WINDOW)
    state = _decode(local.path.read_bytes())
    state["ids"].append("1:x")
    state["t"] = array.array("d", [clock.now + 3600] * 5)  # garbage that would block forever
    state["m"] = array.array("l", [1] * 5)
    state["cool"] = clock.now + 3600
    local.path.write_bytes(_encode(state))
    assert await local.claim(5, WINDOW) == Claim(0.0)
    state = _decode(local.path.read_bytes())
    state["boot"] = "an earlier boot"
    state["t"] = array.array("d", [clock.now] * 5)
    state["m"] = array.array("l", [1] * 5)
    local.path.write_bytes(_encode(state))
    assert await local.claim(5, WINDOW) == Claim(0.0)


# -- kill -9 ---------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import anyio, os, sys, time
    from pathlib import Path
    from batch.engine._quota_local import LocalStore, _decode, _encode

    async def main() -> None:
        local = LocalStore("k" * 32, warn=lambda e, f: None, directory=Path(sys.argv[1]))
        for _ in range(5):
            await local.claim(5, 1.01)
        local._file()
        import fcntl
        fcntl.flock(local._fd, fcntl.LOCK_EX)  # killed while holding the lock, too
        print(time.monotonic(), flush=True)
        time.sleep(60)

    anyio.run(main)
    """
)


def test_kill_9_while_holding_slots_and_the_lock_leaks_nothing(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path / "q")], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        filled = float(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    async def next_run() -> None:
        local = LocalStore("k" * 32, warn=Warnings(), directory=tmp_path / "q")
        claim = await local.claim(5, WINDOW)
        # The window is full of the dead run's starts: they age out like any other, no later.
        assert 0 < claim.wait <= filled + WINDOW - time.monotonic() + 1e-3
        await anyio.sleep(claim.wait)
        assert await local.claim(5, WINDOW) == Claim(0.0)
        await local.aclose()

    anyio.run(next_run)


# -- SharedQuota: the stores behind one front, unavailability ---------------------


@pytest.mark.anyio
async def test_redis_store_shares_one_window_on_the_server_clock(redis_url: str) -> None:
    kwargs: dict[str, Any] = {"base_url": "http://127.0.0.1:9/rest/v2", "token": "t"}
    async with SharedQuota(redis_url, **kwargs) as one, SharedQuota(redis_url, **kwargs) as two:
        for quota in (one, two, one, two, one):
            await quota.start(5, WINDOW)
        start = anyio.current_time()
        await two.start(5, WINDOW)  # the sixth waits for the first to leave the window
        assert anyio.current_time() - start > 0.8
        assert two.waited_on_others == 1
        assert await one.running() == 2
    other_org = SharedQuota(redis_url, base_url="http://127.0.0.1:9/rest/v2", token="other")
    async with other_org:
        start = anyio.current_time()
        await other_org.start(5, WINDOW)
        assert anyio.current_time() - start < 0.5


@pytest.mark.anyio
async def test_redis_unreachable_warns_once_and_paces_alone() -> None:
    log = Warnings()
    url = "redis://admin:hunter2@127.0.0.1:9/0"  # nothing listens on port 9
    async with SharedQuota(url, base_url="http://127.0.0.1:9", token="t", logger=log) as quota:
        for _ in range(3):
            await quota.start(5, WINDOW)
    assert [event for event, _ in log.seen] == ["quota_store_unavailable"]
    fields = log.seen[0][1]
    assert fields["store"] == "redis://***@127.0.0.1:9/0"
    assert "hunter2" not in json.dumps(fields)


@pytest.mark.anyio
async def test_slot_draws_from_the_same_quota_as_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    kwargs: dict[str, Any] = {"base_url": "http://127.0.0.1:9", "token": "t", "rate": 5}
    async with SharedQuota("local", **kwargs) as script:
        start = anyio.current_time()
        for _ in range(6):
            async with script.slot():
                pass
        assert anyio.current_time() - start > 0.9  # the sixth waited a window
    assert (tmp_path / "batch-quota").is_dir()


@pytest.mark.anyio
async def test_claims_match_a_brute_force_window_with_the_guard(tmp_path: Path) -> None:
    # Three handles claiming at random times: every answer equals the one computed from the
    # whole log, where another handle's start stays `guard` longer than one's own.
    import random

    rng, clock = random.Random(5), Clock()
    handles = [store(tmp_path, clock, pid=pid) for pid in (1, 2, 3)]
    log: list[tuple[float, str]] = []
    for _ in range(400):
        clock.now += rng.choice([0.0, 0.001, 0.01, 0.05, 0.2])
        local = handles[rng.randrange(3)]
        capacity = rng.choice([2, 3, 5])
        me, now = local._member, clock.now
        leaves = sorted(
            t + WINDOW + (0.0 if who == me else 0.03)
            for t, who in log
            if t + WINDOW + (0.0 if who == me else 0.03) > now
        )
        claim = await local.claim(capacity, WINDOW, 0.03)
        if len(leaves) < capacity:
            assert claim == Claim(0.0)
            log.append((now, me))
        else:
            assert claim.wait == pytest.approx(leaves[len(leaves) - capacity] - now)
