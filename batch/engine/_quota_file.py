"""The layout of a host's shared quota file (`batch.engine._quota_local`): fixed-size
records in a memory-mapped file — a header, a table of the runs using it, and a ring of the
latest starts — and the reads and writes of each record."""

from __future__ import annotations

import mmap
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

from batch.engine._controller import NOISE_SAMPLE, STATE_FIELDS, WINDOW

__all__ = [
    "HEADER",
    "MAGIC",
    "MEMBERS",
    "RECLAIM",
    "REFUSED",
    "RING",
    "SIZE",
    "Header",
    "append",
    "boot_id",
    "find_start",
    "read_member",
    "set_flags",
    "starts",
    "window_before",
    "window_leaves",
    "write_member",
]

#: Runs one file can hold at once, and starts it remembers (more than any window at 5/s).
MEMBERS = 64
RING = 1024

MAGIC = b"bquota3\0"
#: magic, boot, cool-down end, state version, reclaimed gap, ring head, ring count, waiting
HEADER = struct.Struct(f"=8s16sdQd3I{STATE_FIELDS}d")
MEMBER = struct.Struct("=QidddI")  # id, pid, last claim, waiting since (0: not), expected back
START = struct.Struct("=dHH")  # time, member slot, flags
MEMBER_AT = 512
RING_AT = MEMBER_AT + MEMBERS * MEMBER.size
SIZE = RING_AT + RING * START.size
REFUSED, RECLAIM = 1, 2


def boot_id() -> bytes:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return uuid.UUID(handle.read().strip()).bytes
    except (OSError, ValueError):
        # No boot id (not Linux): the monotonic clock's start stands in for it.
        return round(time.time() - time.monotonic()).to_bytes(16, "little", signed=True)


class Header:
    """The header's fields, read at lock time and written back before the unlock."""

    def __init__(self, values: tuple[Any, ...]) -> None:
        (self.magic, self.boot, self.cool, self.version, self.reclaimed,
         self.head, self.count, self.waiting, *state) = values  # fmt: skip
        self.state = tuple(float(x) for x in state)

    def pack_into(self, mm: mmap.mmap) -> None:
        HEADER.pack_into(
            mm, 0, self.magic, self.boot, self.cool, self.version, self.reclaimed,
            self.head, self.count, self.waiting, *self.state,
        )  # fmt: skip


def starts(mm: mmap.mmap, header: Header) -> Iterator[tuple[int, float, int, int]]:
    """(ring index, time, member slot, flags) of the ring's starts, newest first."""
    for back in range(1, header.count + 1):
        index = (header.head - back) % RING
        t, slot, flags = START.unpack_from(mm, RING_AT + index * START.size)
        yield index, t, slot, flags


def append(mm: mmap.mmap, header: Header, now: float, slot: int, flags: int) -> None:
    """A start at ``now`` of the run in ``slot``, the ring's newest."""
    START.pack_into(mm, RING_AT + header.head * START.size, now, slot, flags)
    header.head = (header.head + 1) % RING
    header.count = min(RING, header.count + 1)


def set_flags(mm: mmap.mmap, index: int, flags: int) -> None:
    """The flags of the ring's start at ``index``."""
    t, slot, _ = START.unpack_from(mm, RING_AT + index * START.size)
    START.pack_into(mm, RING_AT + index * START.size, t, slot, flags)


def read_member(mm: mmap.mmap, index: int) -> tuple[int, int, float, float, float, int]:
    """Row ``index`` of the table of runs: id, pid, last claim, waiting since, expected back,
    and its flags."""
    ident, pid, seen, waiting, back, flags = MEMBER.unpack_from(mm, MEMBER_AT + index * MEMBER.size)
    return int(ident), int(pid), float(seen), float(waiting), float(back), int(flags)


def write_member(mm: mmap.mmap, index: int, *values: float) -> None:
    """Row ``index`` of the table of runs, written."""
    MEMBER.pack_into(mm, MEMBER_AT + index * MEMBER.size, *values)


def find_start(mm: mmap.mmap, header: Header, at: float, slot: int) -> tuple[int, int] | None:
    """(ring index, flags) of the start at ``at`` of the run in ``slot``, if still held."""
    for index, t, member, flags in starts(mm, header):
        if t == at and member == slot:
            return index, flags
        if t < at - 10 * WINDOW:
            break
    return None


def window_before(mm: mmap.mmap, header: Header, at: float) -> tuple[int, float]:
    """The starts the window before ``at`` accepted, and the share of refused starts among
    the latest `NOISE_SAMPLE` (the controller's noise)."""
    accepted = seen = refused = 0
    for _, t, _, flags in starts(mm, header):
        if t > at:
            continue
        seen += 1
        refused += bool(flags & REFUSED)
        if at - WINDOW < t < at and not flags & REFUSED:
            accepted += 1
        if seen >= NOISE_SAMPLE and t <= at - WINDOW:
            break
    return accepted, refused / NOISE_SAMPLE


def window_leaves(  # noqa: PLR0913 - the window's parts, read where the claim is made
    mm: mmap.mmap,
    header: Header,
    now: float,
    *,
    window: float,
    guard: float,
    capacity: int,
    slot: int,
) -> tuple[list[float], int]:
    """When each start still in the window leaves it (those not refused; another run's
    ``guard`` later than this one's, the run in ``slot``), and how many are other runs'.
    Fewer starts in the ring than the capacity: the window cannot be full, nothing to read."""
    leaves: list[float] = []
    others = 0
    if header.count < capacity:
        return leaves, others
    for _, t, member, flags in starts(mm, header):
        if t <= now - window - guard:
            break
        if flags & REFUSED or t > now + 0.001:
            continue
        leave = t + window + (0.0 if member == slot else guard)
        if leave > now:
            leaves.append(leave)
            others += member != slot
    return leaves, others
