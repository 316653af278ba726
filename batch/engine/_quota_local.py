"""The shared window of one host: a small JSON file per (base URL, token), under flock.

Where: ``$XDG_RUNTIME_DIR/batch-quota/`` (a per-user tmpfs, emptied at logout), else
``$XDG_CACHE_HOME`` or ``~/.cache`` ``/batch-quota/``; the directory 0700, the file 0600,
so runs of other users never share it. The file holds the starts of the last window as
(CLOCK_MONOTONIC time, "pid:handle"), a shared cool-down and the pids seen lately; it is read and
rewritten under an exclusive ``flock`` held for a few microseconds (a JSON header line and
the starts as doubles: see `_encode`).

What can go wrong, and why it is harmless:
- ``kill -9`` while holding the lock: the kernel drops the lock with the process; its starts
  age out of the window like any other (nothing is "held" across claims).
- A corrupt, truncated or foreign file (a crash mid-write, someone's editor): replaced, with
  one warning (``quota_state_replaced``); times in the future or cool-downs beyond a minute are
  not believed.
- Clock steps (NTP): CLOCK_MONOTONIC never steps, and is one clock for every process of the
  host (system-wide on Linux). It restarts at boot, so the state records the boot id and a
  file from an earlier boot starts afresh.
- A process stopped (SIGSTOP) while holding the lock: the others give up after a second and
  pace themselves alone (the store is "unavailable"), then try again.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import errno
import fcntl
import itertools
import json
import math
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from batch.engine._quota import ALIVE_FOR, MAX_PAUSE, Claim

__all__ = ["LocalStore", "state_dir"]

#: How long a claim waits for the lock before the store counts as unavailable.
LOCK_PATIENCE = 1.0


def state_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "batch-quota"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "batch-quota"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        # No boot id (not Linux): the monotonic clock's start stands in for it.
        return f"t{round(time.time() - time.monotonic())}"


class LocalStore:
    def __init__(
        self,
        key: str,
        *,
        warn: Callable[[str, dict[str, Any]], None],
        directory: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = (directory or state_dir()) / f"quota-{key}.json"
        self._warn = warn
        self._clock = clock
        self._pid = os.getpid()
        # One member per handle: a script's own quota and its engine's are two users.
        self._member = f"{self._pid}:{secrets.token_hex(3)}"
        self._boot = _boot_id()
        self._fd = -1
        self._size = 0

    # -- the file -----------------------------------------------------------
    def _file(self) -> int:
        if self._fd < 0:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _forget_old(self.path.parent)
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o600)
            if os.fstat(self._fd).st_mode & 0o077:
                os.fchmod(self._fd, 0o600)
        return self._fd

    async def _locked(self, change: Callable[[dict[str, Any], float], Any]) -> Any:
        fd = self._file()
        deadline = time.monotonic() + LOCK_PATIENCE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.path} stayed locked for {LOCK_PATIENCE:g}s"
                    ) from None
                await anyio.sleep(0.001)
        try:
            now = self._clock()
            state = self._read(fd, now)
            answer = change(state, now)
            payload = _encode(state)
            # Padded to the file's size rather than truncated to the payload's (the header says
            # how many starts follow): a truncate per claim cost 0.4 ms on ext4.
            os.pwrite(fd, payload.ljust(self._size, b"\0"), 0)
            self._size = max(self._size, len(payload))
            return answer
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _read(self, fd: int, now: float) -> dict[str, Any]:
        raw = os.pread(fd, 1 << 20, 0)
        self._size = len(raw)
        fresh: dict[str, Any] = {"boot": self._boot, "cool": 0.0, "members": {}, "ids": []}
        fresh.update(t=array.array("d"), m=array.array("l"))
        if not raw:
            return fresh
        try:
            state = _decode(raw)
        except (ValueError, TypeError, KeyError) as exc:
            self._warn(
                "quota_state_replaced",
                {"path": str(self.path), "message": f"the shared quota file was unreadable "
                 f"({str(exc)[:80]}); it was replaced"},
            )  # fmt: skip
            return fresh
        if state["boot"] != self._boot or len(state["ids"]) > 10_000:
            return fresh  # written before the last boot: its clock is another one
        # Nothing from the future (a corrupt or foreign value must not block the window).
        t, m = state["t"], state["m"]
        if t and t[-1] > now + 0.001:
            keep = bisect.bisect_right(t, now + 0.001)
            del t[keep:], m[keep:]
        if state["cool"] > now + MAX_PAUSE:
            state["cool"] = 0.0
        state["members"] = {
            pid: seen for pid, seen in state["members"].items() if now - ALIVE_FOR < seen <= now
        }
        return state

    # -- the store ------------------------------------------------------------
    async def claim(self, capacity: int, window: float, guard: float = 0.0) -> Claim:
        """A start now if the window has room; another run's start occupies it ``guard``
        longer than one of this handle's."""

        def change(state: dict[str, Any], now: float) -> Claim:
            # Starts are appended under the lock on one monotonic clock, so ``t`` is sorted:
            # the window is found by bisection, and only the few starts near its edge are
            # looked at one by one (a claim costs microseconds at any rate).
            t, m, ids, me = state["t"], state["m"], state["ids"], self._member
            if me not in ids:
                ids.append(me)
            mine = ids.index(me)
            gone = bisect.bisect_right(t, now - window - guard)
            del t[:gone], m[:gone]
            edge = bisect.bisect_right(t, now - window)  # before it: only others' are inside
            leaves = [t[i] + window + guard for i in range(edge) if m[i] != mine]
            inside = len(leaves) + len(t) - edge
            state["members"][me] = now
            others = len(leaves) + (len(t) - edge) - m[edge:].count(mine)
            if now < state["cool"]:
                return Claim(state["cool"] - now, others)
            if inside < capacity:
                t.append(now)
                m.append(mine)
                return Claim(0.0)
            # The (inside - capacity + 1)-th start to leave: among the edge's and the oldest
            # recent ones (a later start leaves at most `guard` before an earlier one).
            k = inside - capacity
            upto = bisect.bisect_right(t, t[min(edge + k, len(t) - 1)] + guard)
            leaves += [t[i] + window + (0.0 if m[i] == mine else guard) for i in range(edge, upto)]
            leaves.sort()
            return Claim(max(leaves[k] - now, 1e-4), others)

        claim: Claim = await self._locked(change)
        return claim

    async def pause(self, seconds: float) -> None:
        def change(state: dict[str, Any], now: float) -> None:
            state["cool"] = max(state["cool"], now + seconds)

        await self._locked(change)

    async def running(self) -> int:
        def change(state: dict[str, Any], now: float) -> int:
            alive = {}
            for member, seen in state["members"].items():
                try:
                    os.kill(int(member.split(":")[0]), 0)
                except (ProcessLookupError, ValueError):
                    continue
                except PermissionError:
                    pass
                alive[member] = seen
            state["members"] = alive
            return len(alive)

        count: int = await self._locked(change)
        return count

    async def aclose(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _forget_old(directory: Path, older_than: float = 86400.0) -> None:
    """Remove the state of quotas unused for a day (one file per token and base URL)."""
    limit = time.time() - older_than
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("quota-") and entry.stat().st_mtime < limit:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
    except OSError:
        pass


_MAGIC = b"batch-quota 2\n"


def _encode(state: dict[str, Any]) -> bytes:
    """A JSON header line, then the start times (native doubles) and their runs (longs).

    Binary because a claim reads and rewrites every start of the window: as JSON that cost
    0.8 ms per claim with 350 starts of CPU alone; as arrays the cost hardly grows with them. The file is read only
    by this code, on this host.
    """
    t: array.array[float] = state["t"]
    m: array.array[int] = state["m"]
    header = {k: state[k] for k in ("boot", "cool", "members", "ids")}
    header["n"] = len(t)
    return (
        _MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n"
        + t.tobytes() + m.tobytes()
    )  # fmt: skip


def _decode(raw: bytes) -> dict[str, Any]:
    """The state written by `_encode`; ValueError for anything else (a foreign or torn file)."""
    if not raw.startswith(_MAGIC):
        raise ValueError("not a batch quota state")
    end = raw.index(b"\n", len(_MAGIC))
    header = json.loads(raw[len(_MAGIC) : end])
    if not isinstance(header, dict):
        raise ValueError("bad header")
    boot, cool, members, ids, n = (header[k] for k in ("boot", "cool", "members", "ids", "n"))
    if not (
        isinstance(boot, str)
        and isinstance(cool, int | float)
        and isinstance(members, dict)
        and all(isinstance(seen, int | float) for seen in members.values())
        and isinstance(ids, list)
        and all(isinstance(member, str) for member in ids)
        and isinstance(n, int)
        and n >= 0
    ):
        raise ValueError("bad header")
    t, m = array.array("d"), array.array("l")
    body = raw[end + 1 : end + 1 + n * (t.itemsize + m.itemsize)]
    if len(body) != n * (t.itemsize + m.itemsize):
        raise ValueError("truncated")
    t.frombytes(body[: n * t.itemsize])
    m.frombytes(body[n * t.itemsize :])
    if n and (
        not (math.isfinite(t[0]) and math.isfinite(t[-1]))
        or any(b < a for a, b in itertools.pairwise(t))
        or min(m) < 0
        or max(m) >= len(ids)
    ):
        raise ValueError("bad start entry")
    return {"boot": boot, "cool": float(cool), "members": members, "ids": ids, "t": t, "m": m}
