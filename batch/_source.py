"""From input rows to work items: validate keys, drop duplicates, record invalid rows.

Reading happens in a worker thread a batch of rows at a time, so a slow
standard input or a large gzip never blocks the event loop.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Container, Hashable, Iterator
from typing import Any

import anyio
import anyio.to_thread

from batch._engine import Item
from batch._reader import Row
from batch._stats import Stats
from batch._types import Failure, Job, Result

__all__ = ["items_from_rows"]

BATCH = 1024


async def items_from_rows(
    rows: Iterator[Row],
    job: Job,
    *,
    emit: Callable[[Result], None],
    stats: Stats,
    log: Any,
    skip_keys: Container[str] = frozenset(),
    skip_lines: Container[int] = frozenset(),
) -> AsyncIterator[Item]:
    """Yield each distinct valid key once; emit an ``invalid_input`` record per bad row.

    ``skip_keys`` (already ``ok`` in the results file) and ``skip_lines``
    (invalid rows already recorded there) are counted as skipped, not redone.
    """
    seen: set[Hashable] = set()
    parse_key, compact = job.parse_key, job.compact_key
    while True:
        batch = await anyio.to_thread.run_sync(_next_batch, rows)
        if not batch:
            return
        stats.rows += len(batch)
        for row in batch:
            problem = row.problem
            key = ""
            if problem is None and row.value is not None:
                try:
                    key = parse_key(row.value)
                except ValueError as exc:
                    problem = str(exc)
            if problem is not None:
                if row.line in skip_lines:
                    stats.skipped += 1
                    continue
                stats.invalid += 1
                raw = (row.value or "").strip()
                log.warning("invalid_row", line=row.line, reason=problem)
                emit(Result(raw, row.line, "error", 0, error=Failure("invalid_input", problem)))
                continue
            small = compact(key)
            if small in seen:
                stats.duplicates += 1
                log.info("duplicate_id", key=key, line=row.line)
                continue
            seen.add(small)
            if key in skip_keys:
                stats.skipped += 1
                continue
            yield Item(key, row.line)


def _next_batch(rows: Iterator[Row]) -> list[Row]:
    return list(itertools.islice(rows, BATCH))
