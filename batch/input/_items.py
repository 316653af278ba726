"""From input rows to work items: validate keys, drop duplicates, record invalid rows.

Rows are read in a thread a batch at a time, so a large gzip or a slow
disk never blocks the event loop. `RowItems` is an async iterator object, not an
async generator: a stop that cancels a lane while it waits for the next batch
loses nothing, because the batch lands in the object and the next call goes on
from it (so what is left can still be counted for ``not_attempted``).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Container, Hashable, Iterator
from typing import TypedDict, Unpack

import anyio.to_thread

from batch.engine import (
    BatchError,
    Failure,
    Item,
    Job,
    Logger,
    QuietLogger,
    Result,
    Stats,
    original,
)
from batch.input._formats import BLANK, Row

__all__ = ["BATCH", "KeyFilter", "RowItems"]

BATCH = 1024


class ItemOptions(TypedDict, total=False):
    """`RowItems`' optional keywords: the keys already done (``skip_keys``), rows read a
    ``batch`` at a time, a read of standard input ``abandon``-ed on cancel, a ``limit``."""

    skip_keys: Container[str]
    batch: int
    abandon: bool
    limit: int | None


class RowItems:
    """Each distinct valid key of ``rows`` once, as an `Item`, and an ``invalid_input``
    `Result` for each row without a usable key, in input order.

    ``skip_keys`` (already ``ok`` in the results file) are counted as skipped,
    not redone. With ``limit``, the iteration ends after that many items (a
    canary run): what follows is left unread, for `count_rest`, and ``limited``
    says so.
    """

    def __init__(
        self,
        rows: Iterator[Row],
        job: Job,
        *,
        stats: Stats,
        log: Logger,
        **options: Unpack[ItemOptions],
    ) -> None:
        self._rows = rows
        limit = self._limit = options.get("limit")
        batch = options.get("batch", BATCH)
        skip_keys = options.get("skip_keys", frozenset())
        self._given = 0
        #: whether the limit ended the iteration before the end of the input
        self.limited = False
        #: the items `count_rest` found so far (without making them)
        self.counted = 0
        self._keys = KeyFilter(job, stats, log, skip_keys=skip_keys)
        self._ready: deque[Item | Result] = deque()
        self._read: list[Row] | None = None  # a batch read but not yet filtered
        self._done = False
        self._broken: BatchError | None = None  # raised once the rows read before it are out
        # Up to the limit, one row at a time, so that the last item is handed out as soon
        # as it is read; what is left is counted a batch at a time.
        self._batch = batch if limit is None else 1
        self._rest_batch = batch
        # Standard input may block forever: a cancelled read is then abandoned to its
        # thread, and the rest of the input is not read (nor counted) any more.
        self._abandon = options.get("abandon", False)
        self._abandoned = False

    def __aiter__(self) -> RowItems:
        return self

    async def __anext__(self) -> Item | Result:
        if self._limit is not None and self._given >= self._limit:
            self.limited = True
            self._batch = self._rest_batch
            raise StopAsyncIteration
        while not self._ready:
            batch = await self._next_batch()
            if batch is None:
                raise StopAsyncIteration
            self._keys.filter_rows(batch, self._ready.append, self._ready.append)
        ready = self._ready.popleft()
        if isinstance(ready, Item):
            self._given += 1
        return ready

    async def count_rest(
        self, invalid: Callable[[Result], None], *, strict: bool = False
    ) -> int | None:
        """Read to the end without making items: how many items there would have been.

        The rest is judged by the same rules as the rows before it (a stop or --limit
        changes what is sent, not what a row is): repeats and blank rows are counted as
        such, and each invalid row is logged and goes to ``invalid``, for its record.

        None when the input was abandoned (standard input that would not end). Damage found
        on the way (a gzip cut short) is raised when `strict` (a dry run reports it); else
        the count stops there (a stopped run counting what it leaves). A count cancelled
        part-way keeps what it found so far in `counted`.
        """
        if self._abandoned:
            return None
        while self._ready:
            ready = self._ready.popleft()
            if isinstance(ready, Result):
                invalid(ready)
            else:
                self.counted += 1
        try:
            while (batch := await self._next_batch()) is not None:
                # Not `counted += filter_rows(...)`: that reads `counted` before the call,
                # and the invalid rows it counts meanwhile would be lost.
                passed = self._keys.filter_rows(batch, None, invalid)
                self.counted += passed
        except BatchError:
            if strict:
                raise
        return self.counted

    async def _next_batch(self) -> list[Row] | None:
        if self._abandoned:
            return None
        if self._read is None:
            if self._broken is not None:
                broken, self._broken = self._broken, None
                self._done = True
                raise broken
            if self._done:
                return None
            holder: list[Row] = []
            self._read = holder
            # If the caller is cancelled here, the thread still finishes and the
            # rows stay in self._read for the next call (unless abandoned).
            try:
                await anyio.to_thread.run_sync(
                    _fill, self._rows, holder, self._batch, abandon_on_cancel=self._abandon
                )
            except anyio.get_cancelled_exc_class():
                self._abandoned = self._abandon
                raise
            except BatchError as err:
                # Damage found mid-batch (a gzip or JSON array cut short): the rows read before
                # it still get their records; the error comes on the next call.
                if not holder:
                    self._read = None
                    self._done = True
                    raise
                self._broken = err
        batch, self._read = self._read, None
        if not batch:
            self._done = True
            return None
        return batch


class KeyFilter:
    """The input rules, in one place for every way IDs come in (files, the library).

    A usable key is processed once; a repeat is counted and logged; a key
    already done (``skip_keys``) is counted as skipped; a row with no usable
    key becomes an ``invalid_input`` result.
    """

    def __init__(
        self, job: Job, stats: Stats, log: Logger, *, skip_keys: Container[str] = frozenset()
    ) -> None:
        self._parse_key = job.parse_key
        self._compact = job.compact_key
        self._stats = stats
        self._log = log
        self._skip_keys = skip_keys
        self._seen: set[Hashable] = set()

    def mute(self) -> None:
        """Log nothing from now on (the rows are only counted)."""
        self._log = QuietLogger()

    def check(
        self, line: int, value: str | None, problem: str | None = None
    ) -> Item | Result | None:
        """One value: an Item to process, an invalid_input Result, or None (repeat or skipped)."""
        out: list[Item | Result] = []
        self.filter_rows([Row(line, value, problem)], out.append, out.append)
        return out[0] if out else None

    def filter_rows(
        self,
        rows: list[Row],
        keep: Callable[[Item], None] | None,
        invalid: Callable[[Result], None],
    ) -> int:
        """Apply the rules to rows: items to ``keep`` (if given), bad rows to ``invalid``.

        Returns how many items passed. Invalid rows are counted where their results
        are (the engine, a dry run). This loop is the hot path of a dry run over
        millions of rows: names are bound once, outside it.

        Repeats are logged once per key for the rows given (`duplicate_id`: the key,
        the ``line`` of its first repeat and, when it came again, ``lines``): an input
        of a few IDs repeated a million times costs a few thousand events, not a
        million, and reads as fast as a dry run.
        """
        stats, seen, skip_keys = self._stats, self._seen, self._skip_keys
        parse_key, compact, log = self._parse_key, self._compact, self._log
        stats.rows += len(rows)
        kept = 0
        repeats: dict[str, list[int]] = {}
        for row in rows:
            problem, key = row.problem, ""
            if problem is None:
                if row.value is None:
                    problem = "no value"
                else:
                    try:
                        key = parse_key(row.value)
                    except ValueError as exc:
                        problem = str(exc)
            elif problem == BLANK:
                stats.blank += 1
                continue
            if problem is not None:
                value = (row.value or "").strip()
                if row.value is not None and (was := original(value)) is not None:
                    # A cell this tool neutralised (an --errors CSV given as INPUT): report
                    # the value as it first came. It was not a key then and is not one now.
                    value, problem = was, _problem(parse_key, was) or problem
                log.warning("invalid_row", line=row.line, reason=problem)
                failure = Failure("invalid_input", problem)
                invalid(Result(value, row.line, "error", 0, error=failure, columns=row.columns))
                continue
            small = compact(key)
            if small in seen:
                stats.duplicates += 1
                repeats.setdefault(key, []).append(row.line)
                continue
            seen.add(small)
            if key in skip_keys:
                stats.skipped += 1
                continue
            kept += 1
            if keep is not None:
                keep(Item(key, row.line, row.columns))
        if repeats:
            _log_repeats(log, repeats)
        return kept


def _log_repeats(log: Logger, repeats: dict[str, list[int]]) -> None:
    for key, lines in repeats.items():
        if len(lines) == 1:
            log.info("duplicate_id", key=key, line=lines[0])
        else:
            log.info("duplicate_id", key=key, line=lines[0], lines=lines)


def _problem(parse_key: Callable[[str], str], value: str) -> str | None:
    try:
        parse_key(value)
    except ValueError as exc:
        return str(exc)
    return None


def _fill(rows: Iterator[Row], holder: list[Row], size: int) -> None:
    holder.extend(itertools.islice(rows, size))
