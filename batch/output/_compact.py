"""Compaction: rewrite a results file to its current state, streaming, atomically.

The current state of a key is its newest ``ok`` record, plus its newest
``error`` record when that is newer (a failed refresh must not drop a token
that is still valid); an invalid input row keeps one record per (line, value).
An ``ended`` record (another job's success ended the key's record: a revoked
token) supersedes the ``ok`` records before it: the key's state is that record
alone. Everything else is superseded: tokens that a newer one replaced, or that
were ended, old errors.

Memory does not grow with the file, only with the keys: a first pass keeps
one small entry per key (the compact key and one int holding the positions of
its newest ``ok`` and ``error`` lines); a second pass copies the kept lines,
byte for byte and in their order, into a sibling temporary file (mode 0600,
``.NAME.PID.tmp``), which is fsynced and renamed over the file, and the folder
fsynced. The caller holds the results-file lock throughout. A crash at any
moment leaves the old file or the new one, whole; the next run removes the
temporary file of a process that is gone (`remove_stale_siblings`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from batch.engine import ConfigError, Job, Logger
from batch.output._atomic_file import remove_stale_siblings, replace_atomically
from batch.output._file import OutputFile
from batch.output._permissions import make_private
from batch.output._records import OPTIONAL, RecordFormat, RunRecords, format_for
from batch.output._scan import Counts, scan

__all__ = ["Compaction", "Plan", "compact", "maybe_compact", "plan", "written_by"]

_SHIFT = 40  # line positions up to 2**40 - 2: a trillion lines
_LOW = (1 << _SHIFT) - 1
_CHUNK = 1 << 20


@dataclass(slots=True)
class Plan:
    """What compacting a results file would keep: decided, not yet done."""

    kept: int = 0  # records that are current
    dropped: int = 0  # records superseded (and repeats of an invalid row)
    unreadable: int = 0  # damaged lines, dropped too
    #: a bit per physical line (0-based), set for the lines to keep, the CSV header included
    lines: bytearray = field(default_factory=bytearray)
    #: compact key -> packed positions, for `would_compact` estimates (None once released)
    keys: dict[Hashable, int] | None = None

    def keeps(self, position: int) -> bool:
        byte = position >> 3
        return byte < len(self.lines) and bool(self.lines[byte] >> (position & 7) & 1)

    @property
    def worth_it(self) -> bool:
        """Superseded records outnumber current ones: time to rewrite."""
        return self.dropped > self.kept


@dataclass(frozen=True, slots=True)
class Compaction:
    """What a rewrite did."""

    kept: int
    dropped: int
    unreadable: int
    bytes_before: int
    bytes_after: int

    def as_dict(self) -> dict[str, int]:
        return {
            "kept": self.kept,
            "dropped": self.dropped,
            "unreadable": self.unreadable,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }


def plan(lines: Iterable[bytes], *, fmt: str, job: Job, keep_keys: bool = False) -> Plan:
    """First pass: read every line once; one entry per key. ConfigError: not ``job``'s file."""
    compact_key = _compactor(job)
    newest: dict[Hashable, int] = {}
    invalid_seen: set[tuple[int, str]] = set()
    always = array("Q")  # invalid rows (first of each) and the CSV header
    counts = Counts()
    records = 0
    for record in scan(lines, fmt=fmt, job=job, counts=counts):
        records += 1
        if record.invalid_row is not None:
            if record.invalid_row not in invalid_seen:
                invalid_seen.add(record.invalid_row)
                always.append(record.position)
            continue
        small = compact_key(record.key)
        packed = newest.get(small, 0)
        if record.ok:
            newest[small] = (packed & ~_LOW) | (record.position + 1)
        elif record.ended:  # nothing before it holds: the ended record alone
            newest[small] = (record.position + 1) << _SHIFT
        else:
            newest[small] = (packed & _LOW) | ((record.position + 1) << _SHIFT)
    del invalid_seen
    if counts.header_index is not None:
        always.append(counts.header_index)
    kept, bitmap = _kept_lines(newest, always)
    if not keep_keys:
        newest.clear()
    header = 1 if counts.header_index is not None else 0
    return Plan(
        kept=kept - header,
        dropped=records - (kept - header),
        unreadable=counts.unreadable,
        lines=bitmap,
        keys=newest if keep_keys else None,
    )


def _kept_lines(newest: dict[Hashable, int], always: array[int]) -> tuple[int, bytearray]:
    """How many lines to keep, and a bitmap of them: an eighth of a byte per line of the file,
    in file order without sorting (a sorted list of positions would cost ~40 B per ID)."""
    last = max(always, default=-1)
    for packed in newest.values():
        ok, error = packed & _LOW, packed >> _SHIFT
        last = max(last, ok - 1, error - 1)
    bitmap = bytearray((last >> 3) + 1)
    kept = 0
    for position in always:
        bitmap[position >> 3] |= 1 << (position & 7)
        kept += 1
    for packed in newest.values():
        ok, error = packed & _LOW, packed >> _SHIFT
        if ok:
            bitmap[(ok - 1) >> 3] |= 1 << ((ok - 1) & 7)
            kept += 1
        if error > ok:
            bitmap[(error - 1) >> 3] |= 1 << ((error - 1) & 7)
            kept += 1
    return kept, bitmap


def written_by(path: str, job: Job, *, peek: int = 1000) -> bool:
    """Whether ``path`` looks like ``job``'s results file: a CSV starts with its columns;
    JSONL records (within the first ``peek`` lines) have its key and no field it lacks.

    An error record has the fields every job's records have: the first record that holds
    a success field tells one job's file from another's, so reading goes on past errors.
    """
    fmt = format_for(path)
    allowed = {job.key_name, "status", *job.fields, "attempts", "line", "error", "input", *OPTIONAL}
    found = False
    with open(path, "rb") as handle:
        for _, raw in zip(range(peek), handle, strict=False):
            if not raw.strip():
                continue
            if fmt == "csv":
                header = next(csv.reader([raw.decode("utf-8", "replace").rstrip("\r\n")]), [])
                return RecordFormat("csv", RunRecords(job)).accepts(header)
            record = _json_record(raw)
            if record is None:
                continue
            if job.key_name not in record or not set(record) <= allowed:
                return False
            found = True
            if record.get("status") == "ok":
                return True  # a success field of its own, or none where it has none
    return found


def _json_record(raw: bytes) -> dict[str, object] | None:
    """A JSONL line that is a record (an object with a status), else None."""
    with contextlib.suppress(ValueError):
        record = json.loads(raw)
        if isinstance(record, dict) and record.get("status") in ("ok", "error"):
            return record
    return None


def _compactor(job: Job) -> Callable[[str], Hashable]:
    def compact_key(key: str) -> Hashable:
        try:
            return job.compact_key(key)
        except ValueError:  # a key edited by hand: itself, then
            return key

    return compact_key


def compact(out: OutputFile, job: Job, *, force: bool = False) -> tuple[Plan, Compaction | None]:
    """Rewrite the results file behind ``out`` (whose lock the caller holds) to its current
    state if superseded records outnumber current ones, or whenever there is something
    to drop with ``force``. Blocking. Raises OSError (a full disk) with the file unchanged.

    A last line torn by a crash is dropped; one that is a whole record lacking its
    newline is kept, with it.
    """
    # A symlinked results file: rewrite its target (renaming over the link would leave the
    # target, every old token in it, behind and turn the link into a file).
    path = Path(os.path.realpath(out.path))
    fmt = format_for(out.path)
    remove_stale_siblings(path)
    end, size = out.whole_lines_end(), out.size
    tail = out.read_from(end) if end < size else b""
    planned = plan(_with_tail(out.read_lines(end), tail), fmt=fmt, job=job)
    if planned.unreadable and not (planned.kept or planned.dropped):
        raise ConfigError(
            f"{out.path!r} holds no results record in its {planned.unreadable:,} line(s); "
            "is it a results file? (nothing was changed)"
        )
    if not (force or planned.worth_it):
        return planned, None
    if not (planned.dropped or planned.unreadable or tail):
        return planned, None  # already compact: nothing to rewrite
    temp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb", buffering=_CHUNK) as handle:
            make_private(handle.fileno(), str(temp), None)  # a filesystem ignoring modes
            written = _copy(_with_tail(out.read_lines(end), tail), planned, handle.write)
            handle.flush()
            os.fsync(handle.fileno())
        replace_atomically(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    out.replaced()
    return planned, Compaction(
        kept=planned.kept,
        dropped=planned.dropped,
        unreadable=planned.unreadable,
        bytes_before=size,
        bytes_after=written,
    )


def maybe_compact(out: OutputFile, job: Job, *, enabled: bool, log: Logger) -> Compaction | None:
    """The end of a --resume run (lock still held): compact when it is worth it. Blocking.

    A failure (a full disk) leaves the file as it was, append-only until next time.
    """
    if not enabled or out.path == "-":
        return None
    try:
        _, done = compact(out, job)
    except OSError as exc:
        log.warning(
            "compaction_failed",
            path=out.path,
            message=f"could not rewrite {out.path} to its current state "
            f"({exc.strerror or exc}); it is unchanged, and the next run tries again",
        )
        return None
    if done is not None:
        log.info("compacted", path=out.path, **done.as_dict())
    return done


def _with_tail(lines: Iterator[bytes], tail: bytes) -> Iterator[bytes]:
    yield from lines
    if tail:
        yield tail + b"\n"


def _copy(lines: Iterable[bytes], planned: Plan, write: Callable[[bytes], object]) -> int:
    """Second pass: the kept lines, as they are, in file order. Returns bytes written."""
    written = 0
    bitmap = planned.lines
    size = len(bitmap) << 3
    for position, line in enumerate(lines):
        if position >= size:
            break
        if bitmap[position >> 3] >> (position & 7) & 1:
            write(line)
            written += len(line)
    return written
