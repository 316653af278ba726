"""--resume: what an existing results file already holds."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["Previous", "read_previous"]


@dataclass(slots=True)
class Previous:
    """The newest record per key decides: ``ok`` keys are kept, anything else is redone."""

    ok: dict[str, str] = field(default_factory=dict)  # key -> expires_at (or "")
    #: invalid rows already recorded, as (line, value): a row is the same only if both match
    invalid_rows: set[tuple[int, str]] = field(default_factory=set)
    records: int = 0
    unreadable: int = 0

    def keep(self, *, refresh_within: timedelta | None, now: datetime | None = None) -> set[str]:
        """Keys to skip: ``ok`` and, with ``refresh_within``, not expiring within it."""
        if refresh_within is None:
            return set(self.ok)
        limit = (now or datetime.now(UTC)) + refresh_within
        return {key for key, expires in self.ok.items() if _after(expires, limit)}


def read_previous(
    lines: Iterable[bytes], *, fmt: str, key_name: str, expiry_field: str | None
) -> Previous:
    previous = Previous()
    if fmt == "csv":
        text = io.StringIO(b"".join(lines).decode("utf-8", "replace"), newline="")
        rows: Iterable[dict[str, object]] = csv.DictReader(text)
    else:
        rows = _jsonl(lines, previous)
    for row in rows:
        status = row.get("status")
        key = row.get(key_name)
        kind = row.get("error_kind") if fmt == "csv" else _kind(row.get("error"))
        if status not in ("ok", "error"):
            previous.unreadable += 1
            continue
        previous.records += 1
        if kind == "invalid_input":
            line = row.get("line")
            if isinstance(line, int) or (isinstance(line, str) and line.isdigit()):
                previous.invalid_rows.add((int(line), key if isinstance(key, str) else ""))
            continue
        if not isinstance(key, str) or not key:
            continue
        if status == "ok":
            expires = row.get(expiry_field) if expiry_field else ""
            previous.ok[key] = expires if isinstance(expires, str) else ""
        else:
            previous.ok.pop(key, None)
    return previous


def _jsonl(lines: Iterable[bytes], previous: Previous) -> Iterable[dict[str, object]]:
    for raw in lines:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            previous.unreadable += 1
            continue
        if isinstance(record, dict):
            yield record
        else:
            previous.unreadable += 1


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
