"""The shared quota: the local store on an injected clock, its directory, Redis for real."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from batch.engine import ConfigError, redact_url
from batch.engine._controller import Controller
from batch.engine._quota import SharedQuota
from batch.engine._quota_dir import Place, Unsafe, default_place, named_place, open_state
from batch.engine._quota_file import HEADER, SIZE
from batch.engine._quota_local import LocalStore
from batch.engine._quota_store import Answer, Ask, Claim, parse_quota_store, quota_key
from tests.conftest import on_virtual_time
from tests.helpers import ENV, new_ids, run_cli, write_csv

WINDOW = 1.01


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Warnings:
    """A logger for SharedQuota and the ``warn`` callable of LocalStore, recording both."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        self.seen.append((event, fields))

    def debug(self, event: str, /, **fields: Any) -> None:
        self.seen.append((event, fields))

    info = warning = error = debug


def store(tmp_path: Path, clock: Clock, warn: Warnings | None = None) -> LocalStore:
    """A handle on the one shared file under ``tmp_path``: each call is another run's."""
    return LocalStore("k" * 32, warn=warn or Warnings(), place=Place(tmp_path / "q"), clock=clock)


def ask(capacity: int = 5, *, guard: float = 0.0, **more: Any) -> Ask:
    return Ask(capacity, WINDOW, guard, **more)


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "good", ["local", "none", "redis://h:6379/0", "redis://h", "redis://u:p@h:1/2", "rediss://h/0",
             "/srv/quota"],
)  # fmt: skip
def test_quota_store_values(good: str) -> None:
    assert parse_quota_store(good) == good


def test_a_directory_is_normalised() -> None:
    assert parse_quota_store(" /srv//quota/ ") == "/srv/quota"


@pytest.mark.parametrize(
    "bad", ["", "file", "redis://", "redis://h:port/0", "redis://h/x", "x://h", "quota/dir"]
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
async def test_two_runs_share_one_window(tmp_path: Path) -> None:
    clock = Clock()
    mine, theirs = store(tmp_path, clock), store(tmp_path, clock)
    for i in range(3):
        assert (await mine.claim(ask())).wait == 0.0
        clock.now += 0.1
        if i < 2:
            assert (await theirs.claim(ask())).wait == 0.0
            clock.now += 0.1
    # Five starts in the window (3 mine, 2 theirs, the first at 1000.0): the sixth waits
    # until the first leaves it, and knows that others took part of the window.
    assert clock.now == pytest.approx(1000.5)
    claim = await theirs.claim(ask())
    assert claim.wait == pytest.approx(0.51)
    assert claim.others == 3
    clock.now = 1000.0 + WINDOW + 1e-6
    assert (await theirs.claim(ask())).wait == 0.0
    # A run whose pacer has come down to 2 per window yields to the others.
    assert (await mine.claim(ask(2))).wait > 0
    assert stat.S_IMODE(mine.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(mine.path.parent.stat().st_mode) == 0o700
    assert mine.path.stat().st_size == SIZE  # fixed-size records, never rewritten whole


@pytest.mark.anyio
async def test_a_shared_cooldown_pauses_every_run(tmp_path: Path) -> None:
    clock = Clock()
    mine, theirs = store(tmp_path, clock), store(tmp_path, clock)
    await mine.pause(0.2)
    claim = await theirs.claim(ask())
    assert claim.wait == pytest.approx(0.2)
    assert claim.others == 0
    clock.now += 0.2
    assert (await theirs.claim(ask())).wait == 0.0


@pytest.mark.anyio
async def test_a_cooldown_a_hair_from_its_end_is_over(tmp_path: Path) -> None:
    # A clock that rounds (virtual time) was told to wait 1e-12 s, again and again: a run
    # hung on its claim.
    clock = Clock()
    local = store(tmp_path, clock)
    await local.pause(0.2)
    clock.now += 0.2 - 1e-12
    assert (await local.claim(ask())).wait == 0.0


@pytest.mark.anyio
async def test_runs_take_turns_when_the_window_is_full(tmp_path: Path) -> None:
    # Three runs that each want more than the window (one start per window here), each
    # back at the time it was told: they take turns, though the run whose start just left
    # the window sees it free 30 ms before the others do (that let the first run keep it).
    clock = Clock()
    runs = [store(tmp_path, clock) for _ in range(3)]
    due = [1000.0, 1000.1, 1000.2]
    order: list[int] = []
    while len(order) < 12:
        who = min(range(3), key=lambda i: due[i])
        clock.now = due[who]
        claim = await runs[who].claim(ask(1, guard=0.03))
        if claim.wait == 0:
            order.append(who)
            due[who] = clock.now  # wants another at once
        else:
            due[who] = clock.now + claim.wait
    # Run 0 asked first, twice (its second ask before the others' first), then all in turn.
    assert order == [0, 0, *[1, 2, 0] * 3, 1]


@pytest.mark.anyio
async def test_a_run_that_stops_waiting_is_not_waited_for(tmp_path: Path) -> None:
    clock = Clock()
    first, gone, late = store(tmp_path, clock), store(tmp_path, clock), store(tmp_path, clock)
    assert (await first.claim(ask(1))).wait == 0.0
    told = await gone.claim(ask(1))  # waits, then never comes back (killed, cancelled)
    clock.now += told.wait + 0.11
    assert (await late.claim(ask(1))).wait == 0.0


@pytest.mark.anyio
async def test_refused_starts_leave_the_window_and_feed_the_shared_controller(
    tmp_path: Path,
) -> None:
    clock = Clock()
    mine, theirs = store(tmp_path, clock), store(tmp_path, clock)
    at = []
    for _ in range(5):
        claim = await mine.claim(ask())
        at.append(claim.at)
        clock.now += 0.01
    assert (await theirs.claim(ask())).wait > 0  # full
    # The last two were refused (another client got in): they do not hold their slots, and
    # the shared controller holds to what the window accepted (3).
    ctl = Controller(5, limit=5)
    answers = (Answer(at[3], True), Answer(at[4], True))
    reported = await mine.claim(ask(answers=answers, controller=ctl, version=0))
    assert reported.wait == 0.0
    assert reported.version == 1
    assert reported.state is not None
    assert reported.state.level == 3
    # The other run gets the shared state with its next claim.
    got = await theirs.claim(ask(version=0))
    assert got.state == reported.state
    assert (await theirs.claim(ask(version=got.version))).state is None


@pytest.mark.anyio
async def test_a_listening_gap_holds_a_start_back_and_the_start_that_fills_it_reclaims_it(
    tmp_path: Path,
) -> None:
    clock = Clock()  # 1000.0: a gap begins at every multiple of 5 s
    local = store(tmp_path, clock)

    async def at(t: float) -> Claim:
        clock.now = 1000.0 + t
        return await local.claim(ask(listen=5.0))

    # Four starts in the gap's window (1000 to 1001.01); a fifth waits for its end.
    for t in (0.0, 0.202, 0.404, 0.606):
        assert (await at(t)).wait == 0.0
    held = await at(0.808)
    assert held.wait == pytest.approx(0.202)
    # Then the held start goes, and the next one fills the window again: the reclaim (if
    # another client took the slot meanwhile, that one is refused, and says so).
    assert await at(1.01) == Claim(0.0, at=1001.01, version=0)
    assert (await at(1.0101)).reclaim is True
    assert (await at(1.2121)).reclaim is False  # one a gap


@pytest.mark.anyio
@pytest.mark.parametrize("content", [b"{not json", b"\x01" * 64, b"batch-quota 2\n{}"])
async def test_a_corrupt_or_foreign_state_file_is_replaced_with_a_warning(
    tmp_path: Path, content: bytes
) -> None:
    clock, warn = Clock(), Warnings()
    local = store(tmp_path, clock, warn)
    (tmp_path / "q").mkdir(mode=0o700)
    local.path.write_bytes(content.ljust(SIZE, b"\0"))
    os.chmod(local.path, 0o600)
    assert (await local.claim(ask())).wait == 0.0
    assert [event for event, _ in warn.seen] == ["quota_state_replaced"]
    assert (await local.claim(ask())).wait == 0.0
    assert len(warn.seen) == 1


@pytest.mark.anyio
async def test_times_from_the_future_or_another_boot_do_not_block(tmp_path: Path) -> None:
    clock = Clock()
    local = store(tmp_path, clock)
    await local.claim(ask())
    await local.pause(3600)  # not believed: more than a minute
    assert (await local.claim(ask())).wait == 0.0
    clock.now += 3600  # a clock from the future wrote these, and one far behind now reads
    for _ in range(5):
        await local.claim(ask())
    clock.now -= 3600
    assert (await local.claim(ask())).wait == 0.0
    await local.aclose()
    # Another boot: the header names it, the file starts afresh.
    raw = bytearray(local.path.read_bytes())
    header = list(HEADER.unpack_from(raw, 0))
    header[1] = b"another boot id!"
    HEADER.pack_into(raw, 0, *header)
    local.path.write_bytes(bytes(raw))
    again = store(tmp_path, clock)
    for _ in range(5):
        assert (await again.claim(ask())).wait == 0.0


# -- where the state lives ----------------------------------------------------------


def test_one_user_one_quota_whatever_xdg_runtime_dir_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    login = default_place()
    monkeypatch.delenv("XDG_RUNTIME_DIR")  # cron
    assert default_place() == login == Place(tmp_path / ".cache" / "batch-quota")


def test_a_private_directory_of_another_user_or_writable_by_others_is_unsafe(
    tmp_path: Path,
) -> None:
    place = Place(tmp_path / "q")
    (tmp_path / "q").mkdir()
    os.chmod(tmp_path / "q", 0o777)  # noqa: S103 - the unsafe case
    with pytest.raises(Unsafe, match="writable by every user"):
        open_state(place, "quota-x", SIZE)
    os.chmod(tmp_path / "q", 0o700)
    os.chown(tmp_path / "q", 4242, -1)  # the suite runs as root here, or skips
    with pytest.raises(Unsafe, match="belongs to another user"):
        open_state(place, "quota-x", SIZE)


@pytest.fixture(autouse=False)
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")


@pytest.mark.usefixtures("as_root")
def test_a_state_file_of_another_user_is_unsafe(tmp_path: Path) -> None:
    place = Place(tmp_path / "q")
    fd = open_state(place, "quota-x", SIZE)
    os.close(fd)
    os.chown(tmp_path / "q" / "quota-x", 4242, -1)
    with pytest.raises(Unsafe, match="another user"):
        open_state(place, "quota-x", SIZE)


def test_a_symlinked_state_directory_or_file_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "q").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(Unsafe, match="symbolic link"):
        open_state(Place(tmp_path / "q"), "quota-x", SIZE)
    (tmp_path / "p").mkdir(mode=0o700)
    (tmp_path / "p" / "quota-x").symlink_to(tmp_path / "elsewhere" / "target")
    with pytest.raises(Unsafe, match="symbolic link"):
        open_state(Place(tmp_path / "p"), "quota-x", SIZE)
    assert not (tmp_path / "elsewhere" / "target").exists()


@pytest.mark.anyio
async def test_an_unsafe_default_directory_warns_once_and_the_run_keeps_its_state_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    hostile = tmp_path / ".cache" / "batch-quota"
    hostile.mkdir(parents=True)
    os.chmod(hostile, 0o777)  # noqa: S103 - the unsafe case
    log = Warnings()
    async with SharedQuota("local", base_url="http://127.0.0.1:9", token="t", logger=log) as q:
        for _ in range(3):
            await q.start(5, WINDOW)
    assert [event for event, _ in log.seen] == ["quota_state_unsafe"]
    assert "writable by every user" in log.seen[0][1]["message"]
    assert list(hostile.iterdir()) == []  # nothing written where others could steer it
    # The private directory it used instead is removed at the end (one per run, else).
    private = log.seen[0][1]["message"].split("keeps its state in ")[1].split(" instead")[0]
    assert private.startswith(tempfile.gettempdir())
    assert not await anyio.Path(private).exists()


def test_a_named_directory_is_shared_with_its_group_and_checked(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o2770)  # noqa: S103 - shared with its group, as meant
    os.chown(shared, -1, os.getgroups()[0] if os.getgroups() else os.getegid())
    place = named_place(str(shared))
    assert place.group == shared.stat().st_gid
    fd = open_state(place, "quota-x", SIZE)
    info = os.fstat(fd)
    os.close(fd)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == place.group
    os.chmod(shared, 0o2777)  # noqa: S103 - the unsafe case
    with pytest.raises(Unsafe, match="writable by every user"):
        named_place(str(shared))
    (tmp_path / "link").symlink_to(shared)
    with pytest.raises(Unsafe, match="symbolic link"):
        named_place(str(tmp_path / "link"))
    with pytest.raises(Unsafe, match="cannot be opened"):
        named_place(str(tmp_path / "missing"))


@pytest.mark.usefixtures("as_root")
def test_a_named_directory_of_a_group_not_yours_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 4242, 4242)
    os.chmod(shared, 0o2770)  # noqa: S103 - a group's, as meant (not this user's)
    with pytest.raises(Unsafe, match="group 4242, which is not one of yours"):
        named_place(str(shared))
    with pytest.raises(ConfigError, match="cannot be shared safely"):
        SharedQuota(str(shared), base_url="http://127.0.0.1:9", token="t")


# -- kill -9 ---------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import anyio, fcntl, sys, time
    from pathlib import Path
    from batch.engine._quota_store import Ask
    from batch.engine._quota_dir import Place
    from batch.engine._quota_local import LocalStore

    async def main() -> None:
        local = LocalStore("k" * 32, warn=lambda e, f: None, place=Place(Path(sys.argv[1])))
        for _ in range(5):
            await local.claim(Ask(5, 0.3))
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
        # A window of 0.3 s (as the child's): the real clock, as little of it as will do.
        local = LocalStore("k" * 32, warn=Warnings(), place=Place(tmp_path / "q"))
        claim = await local.claim(Ask(5, 0.3))
        # The window is full of the dead run's starts: they age out like any other, no later.
        assert 0 < claim.wait <= filled + 0.3 - time.monotonic() + 1e-3
        await anyio.sleep(claim.wait)
        assert (await local.claim(Ask(5, 0.3))).wait == 0.0
        await local.aclose()

    anyio.run(next_run)


# -- SharedQuota: the stores behind one front, unavailability ---------------------


@pytest.mark.anyio
async def test_redis_store_shares_one_window_on_the_server_clock(redis_url: str) -> None:
    kwargs: dict[str, Any] = {"base_url": "http://127.0.0.1:9/rest/v2", "token": "t"}
    async with SharedQuota(redis_url, **kwargs) as one, SharedQuota(redis_url, **kwargs) as two:
        # A window of 0.3 s: the server's clock is real, and a test waits as little as it can.
        for quota in (one, two, one, two, one):
            await quota.start(5, 0.3)
        start = anyio.current_time()
        await two.start(5, 0.3)  # the sixth waits for the first to leave the window
        assert anyio.current_time() - start > 0.2
        assert two.waited_on_others == 1
        assert await one.running() == 2
    other_org = SharedQuota(redis_url, base_url="http://127.0.0.1:9/rest/v2", token="other")
    async with other_org:
        start = anyio.current_time()
        await other_org.start(5, 0.3)
        assert anyio.current_time() - start < 0.1


@pytest.mark.anyio
async def test_redis_store_keeps_the_shared_controller(redis_url: str) -> None:
    from batch.engine._quota_redis import RedisStore

    one, two = RedisStore(redis_url, "k" * 32), RedisStore(redis_url, "k" * 32)
    try:
        at = [(await one.claim(Ask(5, WINDOW))).at for _ in range(4)]
        ctl = Controller(5, limit=5)
        reported = await one.claim(
            Ask(5, WINDOW, answers=(Answer(at[3], True),), controller=ctl, version=0)
        )
        assert reported.version == 1
        assert reported.state is not None
        assert reported.state.level == 3
        got = await two.claim(Ask(5, WINDOW, version=0))
        assert got.state == reported.state
    finally:
        await one.aclose()
        await two.aclose()


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
@on_virtual_time
async def test_slot_draws_from_the_same_quota_as_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    kwargs: dict[str, Any] = {"base_url": "http://127.0.0.1:9", "token": "t", "rate": 5}
    async with SharedQuota("local", **kwargs) as script:
        start = anyio.current_time()
        for _ in range(6):
            async with script.slot():
                pass
        assert anyio.current_time() - start == pytest.approx(1.01)  # the sixth waited a window
    assert (tmp_path / ".cache" / "batch-quota").is_dir()


@pytest.mark.anyio
async def test_claims_match_a_brute_force_window_with_the_guard(tmp_path: Path) -> None:
    # Three runs claiming at random times: every start granted is one the whole log allows,
    # where another run's start stays `guard` longer than one's own; a run told to wait is
    # told exactly when the window frees, unless another run has waited longer.
    rng, clock = random.Random(5), Clock()
    handles = [store(tmp_path, clock) for _ in range(3)]
    log: list[tuple[float, int]] = []
    waiting: dict[int, float] = {}  # run -> when it must be back, while it waits
    for _ in range(400):
        clock.now += rng.choice([0.0, 0.001, 0.01, 0.05, 0.2])
        who = rng.randrange(3)
        capacity = rng.choice([2, 3, 5])
        now = clock.now
        leaves = sorted(
            t + WINDOW + (0.0 if run == who else 0.03)
            for t, run in log
            if t + WINDOW + (0.0 if run == who else 0.03) > now
        )
        others_waiting = any(run != who and back >= now for run, back in waiting.items())
        claim = await handles[who].claim(ask(capacity, guard=0.03))
        if claim.wait == 0:
            assert len(leaves) < capacity
            log.append((now, who))
            waiting.pop(who, None)
            continue
        waiting[who] = now + claim.wait + 0.1
        if len(leaves) >= capacity and not others_waiting:
            assert claim.wait == pytest.approx(leaves[len(leaves) - capacity] - now)
        else:  # room or not, another run has waited longer and is coming back first
            assert 0 < claim.wait <= WINDOW + 0.03


def test_claim_is_a_dataclass_with_defaults() -> None:
    assert Claim(0.5) == Claim(0.5, 0, 0.0, False, -1, None)
