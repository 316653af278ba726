"""What people read at the end of a run: the run_finished event, and the summary as text."""

from __future__ import annotations

from typing import TextIO

import click

from batch.cli._console import human_duration, plural
from batch.cli._dry_run import estimate_seconds
from batch.cli._outcome import RunOutcome
from batch.cli._resume_command import resume_command
from batch.cli._screen import NBSP, terminal_width, wrap
from batch.cli._settings import Settings
from batch.engine import Logger, Stats
from batch.output import Ended

__all__ = ["compacted_line", "print_summary"]


def print_summary(
    outcome: RunOutcome, settings: Settings, *, log: Logger, human: TextIO | None
) -> None:
    """The run_finished event (every count, for machines) and the same facts as text."""
    event = _finished_event(outcome, settings)
    log.info("run_finished", **event)
    if human is None:
        return
    width = terminal_width(human)
    resume = event.get("resume")
    text = _summary_lines(outcome, settings)
    if settings.quiet:
        text = text[:1]
        text[0] += _quiet_tail(outcome, settings)
    # On a terminal, between words; every continuation indented 4, under the details.
    lines = [part for line in text for part in wrap(line, width, hang=4)]
    if isinstance(resume, str) and not settings.quiet:
        # Its own line, whole and unwrapped however long, so that it can be copied.
        lines += ["  to finish, run:", f"    {resume}"]
    click.echo("\n".join(lines), file=human)


def _left(outcome: RunOutcome) -> bool:
    """Whether the run left IDs to finish (by --resume): not attempted, failed for a reason
    that may pass (a 5xx, a timeout), or stopped. An ID the API answered for good (a 404, a
    400) is not left: a --resume would only get the same answer."""
    stats = outcome.stats
    return bool(
        stats.not_attempted or stats.transient or outcome.abort_reason or outcome.signal_name
    )


def _permanent(stats: Stats) -> int:
    """Records that no retry would change: the API's final answers, and invalid rows."""
    return stats.failed - stats.transient + stats.invalid


def _where_errors(settings: Settings) -> str:
    """Where a run's error records are, for people: the errors file, or the results file."""
    if settings.errors:
        return f"in {settings.errors}"
    if settings.output == "-":
        return "on standard output"
    return f"in {settings.output} (status error)"


def _finished_event(outcome: RunOutcome, settings: Settings) -> dict[str, object]:
    stats = outcome.stats
    event: dict[str, object] = dict(stats.as_summary())
    event.update(stats.latency_summary())
    achieved = stats.achieved_rate()
    event["achieved_rate"] = None if achieved is None else round(achieved, 3)
    event["peak_per_second"] = stats.peak_per_second
    settled = stats.settled_rate
    event["settled_rate"] = None if settled is None else round(settled, 2)
    event["reserve"] = settings.reserve
    event["exit_code"] = outcome.exit_code
    if settings.limit is not None:
        event["limit"] = settings.limit
    if stats.not_attempted:
        event["rest_estimated_s"] = round(estimate_seconds(stats.not_attempted, settings.rate), 1)
    if outcome.abort_reason:
        event["aborted"] = outcome.abort_reason
    if outcome.signal_name:
        event["signal"] = outcome.signal_name
    if _left(outcome) and settings.output != "-":
        event["resume"] = resume_command(settings)
    event["permanent"] = _permanent(stats)
    event.update(_version_fields(stats))
    if outcome.compacted is not None:
        event["compacted"] = outcome.compacted
    if outcome.ended is not None:
        event["ended"] = outcome.ended.as_event()
    return event


def _headline(outcome: RunOutcome, settings: Settings) -> str:
    stats = outcome.stats
    took = human_duration(stats.elapsed_s)
    stopped = outcome.abort_reason or outcome.signal_name
    limited = settings.limit is not None and stats.not_attempted and not stopped
    if outcome.signal_name:
        head = f"Stopped by {outcome.signal_name} after {took}"
    elif stopped:
        head = f"Stopped after {took}"
    elif limited:
        head = f"Stopped at --limit {settings.limit:,} after {took}"
    else:
        head = f"Done in {took}"
    return f"{head}: {', '.join(_counts(stats, settings))}"


def _counts(stats: Stats, settings: Settings) -> list[str]:
    counts = [f"{stats.ok:,} ok"]
    if stats.failed or not (stats.invalid or stats.ok):
        counts.append(f"{stats.failed:,} failed")
    if stats.invalid:
        counts.append(plural(stats.invalid, "invalid row"))
    if stats.duplicates:
        counts.append(f"{plural(stats.duplicates, 'duplicate')} (processed{NBSP}once)")
    if stats.skipped:
        counts.append(f"{stats.skipped:,} already ok in the results file")
    if stats.blank:
        counts.append(f"{plural(stats.blank, 'blank row')} skipped")
    if stats.not_attempted:
        rest = estimate_seconds(stats.not_attempted, settings.rate)
        counts.append(
            f"{stats.not_attempted:,} not attempted (about {human_duration(rest)} "
            f"at {settings.rate:g}/s)"
        )
    return counts


def _requests_line(stats: Stats, settings: Settings) -> str:
    if not stats.requests:
        return "  no request sent"
    retries = plural(stats.retries, "retry") if stats.retries else "no retries"
    if stats.rate_limited:
        retries += f", {stats.rate_limited:,} refused with 429"
    text = f"  {plural(stats.requests, 'request')} ({retries})"
    rate = stats.achieved_rate()
    if rate is not None and stats.requests > 1:
        text += (
            f": {rate:.1f}/s over the run, at most {stats.peak_per_second:,} in any second "
            f"(--rate {settings.rate:g})"
        )
    settled = stats.settled_rate
    if settled is not None and round(settled, 1) != round(settings.rate, 1):
        # The rate as it is kept (fractional rates are exact): "3.8/s".
        text += f"; settled at {settled:.1f}/s of --rate {settings.rate:g}"
    if settings.reserve:
        text += f", {settings.reserve:g}/s of the API's limit left to other integrations"
    return text


def _summary_lines(outcome: RunOutcome, settings: Settings) -> list[str]:
    """The summary as lines of text (wrapped to the terminal later); the resume command
    is not among them (it is never wrapped: `print_summary` adds it)."""
    stats = outcome.stats
    lines = [_headline(outcome, settings), _requests_line(stats, settings)]
    if stats.quota_store != "none" and stats.waited_on_others:
        lines.append(
            f"  quota shared with other runs ({stats.quota_store}): "
            f"{plural(stats.waited_on_others, 'start')} waited for them"
        )
    lat = stats.latency_summary()
    if lat["latency_p50_ms"] is not None:
        lines.append(
            f"  latency p50 {lat['latency_p50_ms']} ms, p95 {lat['latency_p95_ms']} ms, "
            f"max {lat['latency_max_ms']} ms"
        )
    if outcome.compacted is not None:
        lines.append("  " + compacted_line(outcome.compacted))
    if (deprecated := _deprecation_line(stats)) is not None:
        lines.append("  " + deprecated)
    if outcome.ended is not None:
        lines.append("  " + _ended_line(outcome.ended))
    if outcome.abort_reason:
        lines.append(f"  why: {outcome.abort_reason}")
    if outcome.read:
        lines.append(f"  read: {settings.input}, {outcome.read}")
    lines.append(
        f"  results: {'standard output' if settings.output == '-' else settings.output}"
        + (f"   errors: {settings.errors}" if settings.errors else "")
        + (f"   logs: {settings.log_file}" if settings.log_file else "")
    )
    if _left(outcome):
        if settings.output == "-":  # else print_summary adds the command, whole
            lines.append("  to finish: run again with -o FILE and --resume")
    elif _permanent(stats):
        lines.append(f"  nothing to finish: {_settled_line(stats, settings)}")
    return lines


def _settled_line(stats: Stats, settings: Settings) -> str:
    """What a finished run with only final failures says of them: how many, and where."""
    parts = []
    if stats.failed:
        parts.append(f"{plural(stats.failed, 'ID')} the API refused for good")
    if stats.invalid:
        parts.append(plural(stats.invalid, "invalid row"))
    return (
        f"{' and '.join(parts)}, {_where_errors(settings)}: a retry would get the same "
        "answer; fix the input"
    )


def _version_fields(stats: Stats) -> dict[str, object]:
    """The API version that answered, and the end its answers announced, for run_finished."""
    fields: dict[str, object] = {}
    if stats.api_version is not None and stats.api_version.name:
        fields["api_version"] = stats.api_version.name
    dep = stats.deprecation
    if dep is not None:
        fields["api_deprecated"] = True
        fields["api_deprecated_since"] = dep.since_day
        fields["api_sunset"] = dep.sunset_day
    return fields


def _deprecation_line(stats: Stats) -> str | None:
    """``API version X is deprecated since D; it stops working on S: …`` (None: it is not)."""
    dep = stats.deprecation
    if dep is None:
        return None
    since, sunset = dep.since_day, dep.sunset_day
    text = f"API version {dep.name or '(unnamed)'} is deprecated"
    text += f" since {since}" if since else ""
    text += f"; it stops working on {sunset}" if sunset else ""
    return text + ": test a newer version, then set it with --api-version"


def _ended_line(ended: Ended) -> str:
    """``ended: N records in FILE``: what the run's successes ended in its input."""
    line = (
        f"ended: {plural(ended.ended, 'record')} in {ended.path} (a --resume run on it redoes them)"
    )
    if ended.compacted is not None:
        line += f" ({compacted_line(ended.compacted.as_dict())})"
    return line + (f"; {ended.problem}" if ended.problem else "")


def compacted_line(done: dict[str, int]) -> str:
    """``compacted: kept N, dropped M (size → size)``: the results file's rewrite."""
    damaged = f", {done['unreadable']:,} damaged" if done.get("unreadable") else ""
    return (
        f"compacted: kept {done['kept']:,}, dropped {done['dropped']:,}{damaged} "
        f"({_size(done['bytes_before'])} → {_size(done['bytes_after'])})"
    )


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _quiet_tail(outcome: RunOutcome, settings: Settings) -> str:
    """What --quiet adds to the headline: where the results and the errors are, and a
    deprecated API version (its warning is not printed)."""
    stats = outcome.stats
    errors = stats.failed + stats.invalid
    tail = "" if settings.output == "-" else f"; results in {settings.output}"
    if errors:
        tail += f"; {plural(errors, 'error record')} {_where_errors(settings)}"
    elif settings.errors and settings.output != "-":
        tail += f", errors in {settings.errors}"
    dep = stats.deprecation
    if dep is not None:
        sunset = dep.sunset_day
        tail += f"; API version {dep.name or '(unnamed)'} deprecated" + (
            f", sunset {sunset}" if sunset else ""
        )
    return tail
