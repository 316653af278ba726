"""--resume: what an existing results file already holds."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from batch.engine import ConfigError, Job, Logger, original
from batch.output._file import OutputFile
from batch.output._origin import describe_mismatch
from batch.output._records import RecordFormat, format_for

__all__ = ["Counts", "Previous", "Record", "Stopped", "open_for_resume", "read_previous", "scan"]


@dataclass(slots=True)
class Previous:
    """The newest record per key decides: ``ok`` keys are kept, anything else is redone."""

    ok: dict[str, str] = field(default_factory=dict)  # key -> expires_at (or "")
    #: invalid rows already recorded, as (line, value): a row is the same only if both match
    invalid_rows: set[tuple[int, str]] = field(default_factory=set)
    records: int = 0
    unreadable: int = 0
    #: the origins the records carry (`batch.output._origin`); empty for older files
    origins: set[str] = field(default_factory=set)

    def keep(self, *, refresh_within: timedelta | None, now: datetime | None = None) -> set[str]:
        """Keys to skip: ``ok`` and, with ``refresh_within``, not expiring within it."""
        if refresh_within is None:
            return set(self.ok)
        limit = (now or datetime.now(UTC)) + refresh_within
        return {key for key, expires in self.ok.items() if _after(expires, limit)}


def read_previous(
    lines: Iterable[bytes], *, fmt: str, job: Job, keep: tuple[str, ...] = ()
) -> Previous:
    """Read a results file of ``job``. A CSV one must start with its columns, the kept
    input columns (``keep``) included (else ConfigError).

    Records are read one physical line at a time (the writer never puts a line
    break inside a value), so one damaged line costs only itself.
    """
    previous = Previous()
    counts = Counts()
    for record in scan(lines, fmt=fmt, job=job, counts=counts, keep=keep):
        if record.origin:
            previous.origins.add(record.origin)
        if record.invalid_row is not None:
            previous.invalid_rows.add(record.invalid_row)
        elif not record.key:
            continue
        elif record.ok:
            previous.ok[record.key] = record.expires
        else:
            previous.ok.pop(record.key, None)
    previous.records, previous.unreadable = counts.records, counts.unreadable
    return previous


@dataclass(slots=True)
class Counts:
    """What `scan` saw besides the records it yields."""

    records: int = 0
    unreadable: int = 0
    #: the physical line (0-based) of a CSV file's header
    header_index: int | None = None


class Record(NamedTuple):
    """One readable record of a results file, as much of it as resuming and compacting need."""

    position: int  # its physical line, 0-based
    key: str
    ok: bool
    #: (line, value) for an invalid input row (the value as read), else None
    invalid_row: tuple[int, str] | None
    expires: str
    #: who issued it (`batch.output._origin`), "" in files older than the stamp
    origin: str = ""


def scan(
    lines: Iterable[bytes],
    *,
    fmt: str,
    job: Job,
    counts: Counts,
    keep: tuple[str, ...] | None = None,
) -> Iterator[Record]:
    """The records of a results file of ``job`` in file order (ConfigError: a CSV file that
    does not start with the job's columns, or, with ``keep``, whose input columns after them
    (--keep-columns) are not those); damaged lines are counted, not yielded."""
    key_name, expiry_field = job.key_name, job.expiry_field
    layout = RecordFormat("csv", job)
    rows = _csv(lines, counts, layout, keep) if fmt == "csv" else _jsonl(lines, counts)
    for index, row in rows:
        status = row.get("status")
        key = row.get(key_name)
        kind = row.get("error_kind") if fmt == "csv" else _kind(row.get("error"))
        if status not in ("ok", "error") or not isinstance(key, str):
            counts.unreadable += 1
            continue
        counts.records += 1
        invalid_row = None
        if kind == "invalid_input":
            line = row.get("line")
            if fmt == "csv":
                key = original(key) or key  # as it was read, not as a spreadsheet needs it
            number = line if isinstance(line, int) else -1
            if isinstance(line, str) and line.isdigit():
                number = int(line)
            invalid_row = (number, key)
        expires = row.get(expiry_field) if expiry_field and status == "ok" else ""
        origin = row.get("origin")
        yield Record(
            index,
            key,
            status == "ok",
            invalid_row,
            expires if isinstance(expires, str) else "",
            origin if isinstance(origin, str) else "",
        )


def _csv(
    lines: Iterable[bytes], counts: Counts, layout: RecordFormat, keep: tuple[str, ...] | None
) -> Iterator[tuple[int, dict[str, object]]]:
    header: list[str] | None = None
    for index, raw in enumerate(lines):
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            continue
        try:
            fields = next(csv.reader([text]))
        except (csv.Error, StopIteration):
            fields = []
        if header is None:
            header = fields
            kept_in_file = layout.kept_in(header)
            if kept_in_file is None:
                shown = ",".join(header)[:80]
                raise ConfigError(
                    f"--resume: the results file starts with {shown!r}, not this job's columns; "
                    "is it the results file of the run to finish? (nothing was changed)"
                )
            counts.header_index = index
            if keep is not None and kept_in_file != keep:
                given = (
                    f"--keep-columns {','.join(kept_in_file)}"
                    if kept_in_file
                    else "no --keep-columns"
                )
                raise ConfigError(
                    f"--resume: the results file was written with {given}; run with the "
                    "same columns, or write a new results file (nothing was changed)"
                )
            continue
        if len(fields) != len(header):
            counts.unreadable += 1
            continue
        yield index, dict(zip(header, fields, strict=True))


def _jsonl(lines: Iterable[bytes], counts: Counts) -> Iterator[tuple[int, dict[str, object]]]:
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            counts.unreadable += 1
            continue
        if isinstance(record, dict):
            yield index, record
        else:
            counts.unreadable += 1


def _kind(error: object) -> object:
    return error.get("kind") if isinstance(error, dict) else None


def _after(expires: str, limit: datetime) -> bool:
    try:
        when = datetime.fromisoformat(expires)
    except ValueError:
        return False  # unknown expiry: refresh it
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when > limit


class Stopped(Exception):
    """Reading the results file was stopped (a signal): nothing was changed."""


def open_for_resume(
    out: OutputFile,
    job: Job,
    *,
    refresh_within: timedelta | None,
    log: Logger,
    stop: threading.Event | None = None,
    origin: str | None = None,
    keep_columns: tuple[str, ...] = (),
) -> tuple[set[str], set[tuple[int, str]]]:
    """Read the results file behind ``out`` and repair its end; the keys to keep and the
    invalid rows already recorded. Refuses, unchanged, a file that is not a results file
    or holds records of another ``origin``.

    Blocking (run it in a thread); ``stop`` ends the read early with `Stopped`.
    """
    fmt = format_for(out.path)
    end = out.whole_lines_end()
    # A whole record that only lacks its newline (an editor, a copy) is kept.
    complete_tail = (
        end < out.size and fmt == "jsonl" and _is_record(out.read_from(end), job.key_name)
    )
    readable = out.size if complete_tail else end
    previous = read_previous(
        _until(stop, out.read_lines(readable)), fmt=fmt, job=job, keep=keep_columns
    )
    if previous.records == 0 and previous.unreadable:
        raise ConfigError(
            f"--resume: {out.path!r} holds no results record in its {previous.unreadable} "
            "line(s); is it the results file of the run to finish? (nothing was changed)"
        )
    foreign = sorted(previous.origins - {origin}) if origin else []
    if foreign:
        raise ConfigError(describe_mismatch(out.path, foreign[0], origin or ""))
    if complete_tail:
        out.write("\n")
        log.info("last_line_completed", path=out.path)
    elif end < out.size:
        log.warning(
            "torn_line_dropped",
            path=out.path,
            bytes=out.size - end,
            message="the last record was cut by a crash; it is redone",
        )
        out.truncate(end)
    keep = previous.keep(refresh_within=refresh_within)
    log.info(
        "resume",
        path=out.path,
        records=previous.records,
        ok=len(previous.ok),
        kept=len(keep),
        refresh=len(previous.ok) - len(keep),
        unreadable_lines=previous.unreadable,
    )
    return keep, previous.invalid_rows


def _until(stop: threading.Event | None, lines: Iterator[bytes]) -> Iterator[bytes]:
    for count, line in enumerate(lines):
        if stop is not None and count % 4096 == 0 and stop.is_set():
            raise Stopped
        yield line


def _is_record(tail: bytes, key_name: str) -> bool:
    try:
        record = json.loads(tail)
    except ValueError:
        return False
    return (
        isinstance(record, dict) and key_name in record and record.get("status") in ("ok", "error")
    )
