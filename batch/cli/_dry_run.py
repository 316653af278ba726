"""--dry-run: read and validate the input, say what would be sent and how long it would take."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Container, Hashable
from dataclasses import dataclass, field

import anyio.to_thread

from batch.cli._credentials import read_token
from batch.cli._outcome import EXIT_OK, EXIT_RECORD_ERRORS, DryRunReport, Forecast, RunOutcome
from batch.cli._settings import Settings
from batch.engine import (
    BatchError,
    ConfigError,
    Job,
    QuietLogger,
    Result,
    SharedQuota,
    Stats,
    ceiling_for,
    check_base_url,
    redact_url,
    window_for_rate,
)
from batch.input import RowItems, Rows
from batch.output import Plan, format_for, plan, read_previous, refuse_new

__all__ = ["dry_run", "estimate_seconds", "planned_rate", "rate_above_documented"]

#: how many invalid rows the report shows one by one
FIRST_INVALID = 5


async def dry_run(job: Job, s: Settings, rows: Rows, stats: Stats) -> RunOutcome:
    """The report's figures, in the outcome (`batch.cli._dry_report.print_dry_run` says them)."""
    if s.base_url:
        check_base_url(s.base_url, "--base-url")
    if s.output != "-" and not (s.resume or s.overwrite):
        # What the real run would say: a results file that holds records is not overwritten.
        refusal = await anyio.to_thread.run_sync(refuse_new, s.output)
        if refusal is not None:
            raise ConfigError(refusal)
    still_ok, planned = await anyio.to_thread.run_sync(_read_results_file, job, s)
    items = RowItems(rows, job, stats=stats, log=QuietLogger(), skip_keys=still_ok)
    counted = await _count(items, job, planned, stats)
    would_send = counted.valid if s.limit is None else min(counted.valid, s.limit)
    existing = min(counted.existing, would_send)
    rate = planned_rate(job, s.rate, s.reserve)
    store, runs = await _quota(job, s)
    report = DryRunReport(
        understood=rows.info.as_report(),
        rows=stats.rows,
        blank=stats.blank,
        valid=counted.valid + stats.skipped,
        already_ok=stats.skipped,
        invalid=stats.invalid,
        duplicates=stats.duplicates,
        would_send=would_send,
        estimated_s=round(estimate_seconds(would_send, rate), 1),
        estimated_rate=rate,
        first_invalid=[(r.line, r.error.message if r.error else "") for r in counted.invalid],
        limit=s.limit,
        beyond_limit=counted.valid - would_send,
        forecast=None
        if planned is None
        else _forecast(planned, existing, would_send - existing, s),
        quota_store=store,
        quota_runs=runs,
        reserve=s.reserve,
    )
    code = EXIT_RECORD_ERRORS if stats.invalid else EXIT_OK
    return RunOutcome(stats, code, dry_run=report)


@dataclass(slots=True)
class _Counted:
    #: the valid IDs the run would send (before --limit)
    valid: int = 0
    #: of those, the IDs the results file already has a record of
    existing: int = 0
    #: the first invalid rows, for the report
    invalid: list[Result] = field(default_factory=list)


async def _count(items: RowItems, job: Job, planned: Plan | None, stats: Stats) -> _Counted:
    """Read every item: the IDs that would be sent, and the invalid rows."""
    counted = _Counted()

    def collect(result: Result) -> None:
        stats.invalid += 1
        if len(counted.invalid) < FIRST_INVALID:
            counted.invalid.append(result)

    if planned is not None and planned.keys is not None:
        counted.valid, counted.existing = await _count_sent(items, job, planned.keys, collect)
    else:
        counted.valid = await items.count_rest(collect, strict=True) or 0
    return counted


async def _quota(job: Job, s: Settings) -> tuple[str, int | None]:
    """Where the quota is shared (its URL without credentials), and with how many runs now
    (needs the token: the shared state is keyed by it; without one, or with --simulate, the
    count is unknown)."""
    if s.quota_store == "none":
        return "none", None
    runs = None
    if not s.simulate:
        try:
            token = read_token(job.token_env, s.token_file, [])
        except BatchError:
            token = None
        if token is not None:
            base_url = (s.base_url or job.default_base_url).strip().rstrip("/")
            async with SharedQuota(s.quota_store, base_url=base_url, token=token) as quota:
                runs = await quota.running()
    return redact_url(s.quota_store), runs


def _read_results_file(job: Job, s: Settings) -> tuple[set[str], Plan | None]:
    """For --dry-run --resume: the IDs still ok in the results file (not sent again), and
    what compacting it would do now (it is read, not changed)."""
    if not (s.resume and s.output != "-" and os.path.isfile(s.output)):
        return set(), None
    fmt = format_for(s.output)
    with open(s.output, "rb") as handle:
        previous = read_previous(handle, fmt=fmt, job=job, carried_columns=s.keep_columns)
    with open(s.output, "rb") as handle:
        planned = plan(handle, fmt=fmt, job=job, keep_keys=True)
    return previous.still_ok(refresh_within=s.refresh_within), planned


async def _count_sent(
    items: RowItems, job: Job, known: Container[Hashable], invalid: Callable[[Result], None]
) -> tuple[int, int]:
    """How many IDs would be sent, and how many of them the results file has a record of."""
    sent = existing = 0
    async for ready in items:
        if isinstance(ready, Result):
            invalid(ready)
            continue
        sent += 1
        with contextlib.suppress(ValueError):
            existing += job.compact_key(ready.key) in known
    return sent, existing


def _forecast(planned: Plan, existing: int, new: int, s: Settings) -> Forecast:
    """Whether the run would end by compacting the results file, if every call succeeds:
    each ID it re-issues supersedes one record, each new ID adds a current one."""
    superseded = planned.dropped + planned.unreadable + existing
    current = planned.kept + new
    compaction = "off" if s.keep_history else "yes" if superseded > current else "no"
    return Forecast(compaction, superseded, current)


def estimate_seconds(calls: int, rate: float) -> float:
    capacity, window = window_for_rate(rate)
    return max(calls - 1, 0) * window / capacity  # starts spread evenly, window/capacity apart


def planned_rate(job: Job, rate: float, reserve: float = 0.0) -> float:
    """The rate a run will reach alone: --rate, or the API's documented limit if that is
    lower (the pacer adapts to it within a window or two), less --reserve."""
    documented = getattr(job, "documented_rate", None)
    reached = min(rate, documented) if documented else rate
    return min(reached, ceiling_for(rate, documented, reserve))


def rate_above_documented(job: Job, rate: float) -> str | None:
    """One line for a --rate above the API's documented limit, or None."""
    documented = getattr(job, "documented_rate", None)
    if not documented or rate <= documented:
        return None
    return (
        f"--rate {rate:g} is above the API's documented limit of {documented:g}/s: "
        "the run adapts to what the API accepts"
    )
