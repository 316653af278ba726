"""The shared window of one host: fixed-size records in a memory-mapped file, under flock.

One file per (base URL, token) and host, in the place `_quota_dir` picks. It holds a header
(the boot it belongs to, the shared cool-down, the controller's state and its version), a
table of the runs using it (a random id, the pid, when each last claimed, since when each
waits), and a ring of the latest starts (time, run, refused and reclaim flags). A claim locks
the file for a few microseconds, reads and writes a few records, and unlocks: no rewrite of
the whole state, so a shared start costs little more than the lock.

Times are the event loop's clock, which is CLOCK_MONOTONIC (asyncio's ``loop.time()``): one
clock for every process of the host, which never steps. (On a test's virtual clock, the store
keeps that one, as the simulated API in the same loop does.) It restarts at boot, so the
header names the boot and a file from another boot starts afresh.

What can go wrong, and why it is harmless:
- ``kill -9`` while holding the lock: the kernel drops the lock with the process; its starts
  age out of the window like any other (nothing is "held" across claims).
- A corrupt, truncated or foreign file: started afresh, with one warning
  (``quota_state_replaced``); times in the future or cool-downs beyond a minute are not
  believed.
- A process stopped (SIGSTOP) while holding the lock: the others give up after a second and
  pace themselves alone (the store is "unavailable"), then try again.
"""

from __future__ import annotations

import errno
import fcntl
import math
import mmap
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

import anyio

from batch.engine._controller import STATE_FIELDS, ControlState
from batch.engine._quota_dir import Place, open_state
from batch.engine._quota_file import (
    HEADER,
    MAGIC,
    MEMBERS,
    RECLAIM,
    REFUSED,
    RING,
    SIZE,
    Header,
    append,
    boot_id,
    find_start,
    read_member,
    set_flags,
    window_before,
    window_leaves,
    write_member,
)
from batch.engine._quota_store import ALIVE_FOR, MAX_PAUSE, Ask, Claim

__all__ = ["LocalStore"]

#: How long a claim waits for the lock before the store counts as unavailable.
LOCK_PATIENCE = 1.0
#: A waiting run that has not come back by the time it was told (plus this) is not waited for.
LATE = 0.1
#: The shortest wait a claim is told (shorter is no wait: see the pacer's EPSILON).
EPSILON = 1e-4


class LocalStore:
    def __init__(
        self,
        key: str,
        *,
        warn: Callable[[str, dict[str, Any]], None],
        place: Place,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.place = place
        self.name = f"quota-{key}-{socket.gethostname()[:64].replace('/', '_')}"
        self.path = place.directory / self.name
        self._warn = warn
        self._clock = clock
        self._id = (
            secrets.randbits(63) | 1
        )  # this handle: a script's quota and its engine's are two
        self._pid = os.getpid()
        self._slot = -1
        self._boot = boot_id()
        self._fd = -1
        self._mm: mmap.mmap | None = None

    # -- the file -----------------------------------------------------------
    def _map(self) -> mmap.mmap:
        if self._mm is None:
            self._fd = open_state(self.place, self.name, SIZE)
            if os.fstat(self._fd).st_size < SIZE:
                os.ftruncate(self._fd, SIZE)
            self._mm = mmap.mmap(self._fd, SIZE)
        return self._mm

    async def _lock(self) -> mmap.mmap:
        """The mapped file, locked (the caller unlocks with `_unlock`)."""
        mm = self._map()
        if self._try_lock():
            return mm
        deadline = time.monotonic() + LOCK_PATIENCE
        while True:
            await anyio.sleep(0.001)
            if self._try_lock():
                return mm
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.path} stayed locked for {LOCK_PATIENCE:g}s")

    def _try_lock(self) -> bool:
        """The file's lock taken now, or False when another process holds it."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
            return False
        return True

    def _unlock(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _header(self, mm: mmap.mmap, now: float) -> Header:
        header = Header(HEADER.unpack_from(mm, 0))
        fresh = header.magic != MAGIC or header.boot != self._boot
        if not fresh and not (
            header.count <= RING and header.head < RING and header.waiting <= MEMBERS
        ):
            fresh = True
        if fresh:
            if header.magic not in (MAGIC, b"\0" * 8):
                self._warn(
                    "quota_state_replaced",
                    {"path": str(self.path), "message": "the shared quota file was not one "
                     "this program wrote (corrupt or foreign); it was started afresh"},
                )  # fmt: skip
            mm[:] = bytes(SIZE)
            header = Header(
                (MAGIC, self._boot, 0.0, 0, -math.inf, 0, 0, 0, *([0.0] * STATE_FIELDS))
            )
            self._slot = -1
        if header.cool > now + MAX_PAUSE:
            header.cool = 0.0  # not believed
        return header

    # -- the runs ------------------------------------------------------------
    def _join(self, mm: mmap.mmap, header: Header, now: float) -> None:
        """Take (or re-take) this handle's row in the table of runs."""
        if self._slot >= 0 and read_member(mm, self._slot)[0] == self._id:
            return
        chosen = None
        for index in range(MEMBERS):
            ident, _, seen, waiting, _, _ = read_member(mm, index)
            if ident == 0 or seen < now - ALIVE_FOR or seen > now + 1:
                if waiting and header.waiting:
                    header.waiting -= 1
                chosen = index
                break
        if chosen is None:  # 64 runs claimed in the last 10 s: share the oldest row
            chosen = min(range(MEMBERS), key=lambda i: read_member(mm, i)[2])
        self._slot = chosen
        write_member(mm, chosen, self._id, self._pid, now, 0.0, 0.0, 0)

    # -- the store -----------------------------------------------------------
    async def claim(self, ask: Ask) -> Claim:
        mm = await self._lock()
        try:
            now = self._clock()
            header = self._header(mm, now)
            self._join(mm, header, now)
            self._apply(mm, header, ask, now)
            claim = self._claim(mm, header, ask, now)
            header.pack_into(mm)
        finally:
            self._unlock()
        stale = header.version and header.version != ask.version
        state = ControlState.from_tuple(header.state) if stale else None
        return Claim(claim.wait, claim.others, now, claim.reclaim, header.version, state)

    def _apply(self, mm: mmap.mmap, header: Header, ask: Ask, now: float) -> None:
        """Mark this run's refused starts, and feed what matters to the shared controller."""
        if not ask.answers or ask.controller is None:
            return
        controller = ask.controller
        if header.version:
            controller.state = ControlState.from_tuple(header.state)
        changed = False
        for answer in ask.answers:
            found = find_start(mm, header, answer.at, self._slot)
            if found is None:
                continue
            index, flags = found
            if answer.refused:
                flags |= REFUSED
                set_flags(mm, index, flags)
            if answer.refused or flags & RECLAIM:
                accepted, noise = window_before(mm, header, answer.at)
                controller.answer(
                    now, started=answer.at, refused=answer.refused, accepted=accepted,
                    noise=noise, reclaim=bool(flags & RECLAIM),
                )  # fmt: skip
                changed = True
        if changed:
            header.state = controller.state.as_tuple()
            header.version += 1

    def _claim(self, mm: mmap.mmap, header: Header, ask: Ask, now: float) -> Claim:
        ident, pid, _, waiting, _, _ = read_member(mm, self._slot)
        capacity, began, inside_gap = ask.capacity, -math.inf, False
        if ask.listen > 0:  # one start fewer during a listening gap
            began = math.floor(now / ask.listen) * ask.listen
            inside_gap = now - began < ask.window
            capacity -= inside_gap and capacity >= 2
        leaves, others = window_leaves(
            mm, header, now, window=ask.window, guard=ask.guard, capacity=capacity, slot=self._slot
        )
        free = capacity - len(leaves)
        ahead, soonest = (
            self._ahead(mm, header, now, waiting or now) if header.waiting else (0, now)
        )
        # A cool-down a hair from its end is over: a clock that rounds (virtual time) would
        # otherwise be told to wait 1e-12 s, again and again.
        cooling = header.cool - now > EPSILON
        if not cooling and free > ahead:
            # The reclaim: the first start after a gap that fills the window again.
            reclaim = not inside_gap and began > header.reclaimed and len(leaves) >= capacity - 1
            if reclaim:
                header.reclaimed = began
            append(mm, header, now, self._slot, RECLAIM if reclaim else 0)
            header.waiting = max(0, header.waiting - bool(waiting))  # a hint: `_ahead` recounts
            write_member(mm, self._slot, ident, pid, now, 0.0, 0.0, 0)
            return Claim(0.0, reclaim=reclaim)
        if cooling:
            wait = header.cool - now
        elif free > 0:  # room, but runs that waited longer come first
            wait = min(max(soonest - now, 0.001), ask.window)
        else:
            leaves.sort()
            wait = max(leaves[min(len(leaves) - 1, ahead - free)] - now, 1e-4)
        header.waiting += not waiting
        write_member(mm, self._slot, ident, pid, now, waiting or now, now + wait + LATE, 0)
        return Claim(wait, others)

    def _ahead(self, mm: mmap.mmap, header: Header, now: float, since: float) -> tuple[int, float]:
        """Runs that have waited longer than ``since`` and are still coming back, and the
        soonest any of them is due."""
        ahead, soonest, waiting = 0, math.inf, 0
        for index in range(MEMBERS):
            ident, pid, seen, wait_since, expect, _ = read_member(mm, index)
            if not ident or not wait_since:
                continue
            if expect < now:  # gone or late: not waited for, and no longer waiting
                write_member(mm, index, ident, pid, seen, 0.0, 0.0, 0)
                continue
            waiting += 1
            if index != self._slot and wait_since < since:
                ahead += 1
                soonest = min(soonest, expect - LATE)
        header.waiting = waiting
        return ahead, soonest

    async def pause(self, seconds: float) -> None:
        mm = await self._lock()
        try:
            now = self._clock()
            header = self._header(mm, now)
            header.cool = max(header.cool, now + seconds)
            header.pack_into(mm)
        finally:
            self._unlock()

    async def running(self) -> int:
        mm = await self._lock()
        try:
            now = self._clock()
            header = self._header(mm, now)
            count = 0
            for index in range(MEMBERS):
                ident, pid, seen, *_ = read_member(mm, index)
                if not ident or not now - ALIVE_FOR < seen <= now + 1:
                    continue
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    continue
                except PermissionError:
                    pass
                count += 1
            header.pack_into(mm)
        finally:
            self._unlock()
        return count

    async def aclose(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
