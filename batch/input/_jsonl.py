"""JSON lines text to `Row`s, and the `Row` of one JSON record (a line, an array element).

A line that is not JSON, not an object, or whose ID is not a string costs only its row; a
line over `LINE_LIMIT` is a "line too long" row; a line that does not decode stops the
reading (`Undecodable`, see `batch.input._formats`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

from batch.input._formats import (
    BLANK,
    READ_ERRORS,
    Columns,
    FirstLine,
    LineTooLong,
    Row,
    Undecodable,
    broken,
    lines,
    undecodable,
    value_problem,
)

__all__ = ["JsonKeys", "json_row", "jsonl_rows", "kept_keys"]

_NOTHING_READ = FirstLine("", 0)


@dataclass(frozen=True, slots=True)
class JsonKeys:
    """Which keys of a JSON record matter: `name` (the ID's; dotted, it reaches into nested
    objects) and `keep` (carried into the records). The keys of records without `name` are
    counted in `seen`, to name them when none has it."""

    name: str
    keep: tuple[str, ...] = ()
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def missing(self) -> str:
        return f"no '{self.name}' value"


def jsonl_rows(
    readline: Callable[[int], str],
    keys: JsonKeys,
    label: str,
    encoding: str,
    start: FirstLine = _NOTHING_READ,
) -> Generator[Row, None, None]:
    """Rows of a JSONL text: `start` (its first non-blank line, already read), then the rest."""
    decode = json.JSONDecoder().decode
    line = start.blank
    pieces: Iterator[str] = lines(readline)
    if start.line:
        pieces = itertools.chain([start.line], pieces)
    try:
        while True:
            try:
                for text in pieces:
                    line += 1
                    try:
                        record = decode(text)
                    except (ValueError, RecursionError):
                        yield Row(line, None, BLANK if text.isspace() else "not valid JSON")
                        continue
                    yield json_row(record, line, keys)
                return
            except LineTooLong:
                line += 1
                yield Row(line, None, "line too long")
                pieces = lines(readline)
    except READ_ERRORS as err:
        raise broken(label, err, line) from None
    except Undecodable as err:
        raise undecodable(label, err, line + 1, encoding) from None


def json_row(record: object, line: int, keys: JsonKeys) -> Row:
    """The Row of one JSON value read as a record; it carries on the `keys.keep` keys of its
    object. A record of this tool's own results or errors files keeps the input line it
    records (a re-run of an errors file reports the original line)."""
    if type(record) is not dict:
        return Row(line, None, "not a JSON object")
    columns = kept_keys(record, keys.keep) if keys.keep else None
    name = keys.name
    value = record.get(name)
    if value is None and "." in name:
        value = _dotted(record, name)
    recorded = record.get("line")
    if type(recorded) is int and recorded > 0 and record.get("status") in ("ok", "error"):
        line = recorded
    if value is None:
        seen = keys.seen
        if len(seen) < 1000:
            for key in record:
                seen[key] = seen.get(key, 0) + 1
        return Row(line, None, keys.missing, columns)
    if type(value) is not str:
        return Row(line, None, f"'{name}' is not a string", columns)
    problem = value_problem(value, name)
    return Row(line, None, problem, columns) if problem else Row(line, value, None, columns)


def _dotted(record: dict[str, object], name: str) -> object:
    value: object = record
    for part in name.split("."):
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def kept_keys(record: dict[str, object], keep: tuple[str, ...]) -> Columns:
    """The `keep` keys of a JSON record; one missing at the top is looked for in its
    ``input`` object (the errors file of an earlier --keep-columns run)."""
    inner = record.get("input")
    nested: dict[str, object] = inner if isinstance(inner, dict) else {}
    return {k: record[k] if k in record else nested[k] for k in keep if k in record or k in nested}
