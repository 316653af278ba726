"""Reading a results file back, record by record: what resuming and compacting both need.

Records are read one physical line at a time (the writer never puts a line
break inside a value), so one damaged line costs only itself: it is counted as
unreadable, not yielded.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from batch.engine import ConfigError, Job, original
from batch.output._records import JsonObject, RecordFormat, RunRecords

__all__ = ["Counts", "Record", "scan"]


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
    #: an error record of kind ``ended``: another job's success ended the key's record
    #: (`Job.ends`), so no earlier ``ok`` of it holds any more
    ended: bool = False
    #: the record's ``line`` (of the input it was read from), -1 if it has none
    line: int = -1


def scan(
    lines: Iterable[bytes],
    *,
    fmt: str,
    job: Job,
    counts: Counts,
    carried_columns: tuple[str, ...] | None = None,
) -> Iterator[Record]:
    """The records of a results file of ``job`` in file order (ConfigError: a CSV file that
    does not start with the job's columns, or, given ``carried_columns``, whose input columns
    after them (--keep-columns) are not those); damaged lines are counted, not yielded."""
    if fmt == "csv":
        rows = _csv(lines, counts, RecordFormat("csv", RunRecords(job)), carried_columns)
    else:
        rows = _jsonl(lines, counts)
    for index, row in rows:
        status, key = row.get("status"), row.get(job.key_name)
        if status not in ("ok", "error") or not isinstance(key, str):
            counts.unreadable += 1
            continue
        counts.records += 1
        kind = row.get("error_kind") if fmt == "csv" else _kind(row.get("error"))
        invalid_row = None
        if kind == "invalid_input":
            invalid_row = _invalid_row(row, key, from_csv=fmt == "csv")
            key = invalid_row[1]
        expires = row.get(job.expiry_field) if job.expiry_field and status == "ok" else ""
        origin, ended = _text(row.get("origin")), status == "error" and kind == "ended"
        yield Record(
            index, key, status == "ok", invalid_row, _text(expires), origin, ended, _line(row)
        )


def _invalid_row(row: JsonObject, key: str, *, from_csv: bool) -> tuple[int, str]:
    """(line, value) of an invalid row's record: the value as it was read, not as a
    spreadsheet needs it; line -1 when the record lacks a usable one."""
    line = row.get("line")
    if from_csv:
        key = original(key) or key
    if isinstance(line, str) and line.isdigit():
        return int(line), key
    return (line if isinstance(line, int) else -1), key


def _line(row: JsonObject) -> int:
    line = row.get("line")
    if isinstance(line, str) and line.isdigit():
        return int(line)
    return line if isinstance(line, int) and not isinstance(line, bool) else -1


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _csv(
    lines: Iterable[bytes],
    counts: Counts,
    layout: RecordFormat,
    carried_columns: tuple[str, ...] | None,
) -> Iterator[tuple[int, JsonObject]]:
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
            _check_header(fields, layout, carried_columns)
            header = fields
            counts.header_index = index
            continue
        if len(fields) != len(header):
            counts.unreadable += 1
            continue
        yield index, dict(zip(header, fields, strict=True))


def _check_header(
    header: list[str], layout: RecordFormat, carried_columns: tuple[str, ...] | None
) -> None:
    """ConfigError unless ``header`` is the job's, carrying ``carried_columns`` (if given)."""
    carried_in_file = layout.carried_in(header)
    if carried_in_file is None:
        shown = ",".join(header)[:80]
        raise ConfigError(
            f"--resume: the results file starts with {shown!r}, not this job's columns; "
            "is it the results file of the run to finish? (nothing was changed)"
        )
    if carried_columns is not None and carried_in_file != carried_columns:
        given = (
            f"--keep-columns {','.join(carried_in_file)}"
            if carried_in_file
            else "no --keep-columns"
        )
        raise ConfigError(
            f"--resume: the results file was written with {given}; run with the "
            "same columns, or write a new results file (nothing was changed)"
        )


def _jsonl(lines: Iterable[bytes], counts: Counts) -> Iterator[tuple[int, JsonObject]]:
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
