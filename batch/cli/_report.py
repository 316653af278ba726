"""What people read: the run_finished event, the end-of-run summary, the dry-run report."""

from __future__ import annotations

import shlex
import sys
from typing import Any, TextIO

import click

from batch._version import distribution
from batch.cli._outcome import RunOutcome
from batch.cli._settings import Settings
from batch.engine import redact_url, window_for_rate

__all__ = ["compacted_line", "human_duration", "print_dry_run", "print_summary", "resume_command"]


def human_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs}s" if secs and minutes < 10 else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def resume_command(settings: Settings) -> str:
    """The command to run to finish what this run left, as the user typed it plus --resume."""
    args = _without_proxy_credentials(sys.argv[1:])
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join([distribution()[0], *args])


def _without_proxy_credentials(argv: list[str]) -> list[str]:
    """``--proxy http://USER:PASSWORD@HOST`` is shown as ``http://***@HOST``: the summary
    goes to a terminal or a log file, neither of which may hold the password."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg.startswith("--proxy="):
            args[i] = redact_url(arg)
        elif arg == "--proxy" and i + 1 < len(args):
            args[i + 1] = redact_url(args[i + 1])
    return args


def print_summary(
    outcome: RunOutcome, settings: Settings, *, log: Any, console: bool, stream: TextIO
) -> None:
    stats = outcome.stats
    event: dict[str, Any] = dict(stats.as_summary())
    event.update(stats.latency_summary())
    achieved = stats.achieved_rate()
    event["achieved_rate"] = None if achieved is None else round(achieved, 3)
    event["exit_code"] = outcome.exit_code
    if outcome.abort_reason:
        event["aborted"] = outcome.abort_reason
    if outcome.signal_name:
        event["signal"] = outcome.signal_name
    left = stats.not_attempted or stats.failed or outcome.abort_reason or outcome.signal_name
    if left and settings.output != "-":
        event["resume"] = resume_command(settings)
    if outcome.compacted is not None:
        event["compacted"] = outcome.compacted
    log.info("run_finished", **event)
    if not console:
        return
    rate = stats.achieved_rate()
    lat = stats.latency_summary()
    lines = [
        f"{'Stopped' if outcome.abort_reason or outcome.signal_name else 'Done'} in "
        f"{human_duration(stats.elapsed_s)}: {stats.ok:,} ok, {stats.failed:,} failed, "
        f"{stats.invalid:,} invalid, {stats.duplicates:,} duplicate, {stats.skipped:,} skipped"
        + (f", {stats.not_attempted:,} not attempted" if stats.not_attempted else ""),
        f"  {stats.requests:,} requests ({stats.retries:,} retries, {stats.rate_limited:,} rate-limited)"
        + (f", {rate:.2f}/s (limit {settings.rate:g}/s)" if rate is not None else "")
        + (
            f"; latency p50 {lat['latency_p50_ms']} ms, p95 {lat['latency_p95_ms']} ms, max {lat['latency_max_ms']} ms"
            if lat["latency_p50_ms"] is not None
            else ""
        ),
        f"  results: {'standard output' if settings.output == '-' else settings.output}"
        + (f"   errors: {settings.errors}" if settings.errors else ""),
    ]
    if outcome.compacted is not None:
        lines.append("  " + compacted_line(outcome.compacted))
    if outcome.abort_reason:
        lines.append(f"  aborted: {outcome.abort_reason}")
    if "resume" in event:
        lines.append(f"  to finish: {event['resume']}")
    elif left:
        lines.append("  to finish: run again with -o FILE and --resume")
    click.echo("\n".join(lines), file=stream)


def _forecast_line(report: dict[str, Any], settings: Settings) -> str:
    counts = (
        f"~{report['superseded_after']:,} superseded vs ~{report['current_after']:,} current "
        "records after it"
    )
    if report["compaction"] == "off":
        return f"compaction:     off (--keep-history): {settings.output} keeps every record"
    if report["compaction"] == "yes":
        return f"compaction:     yes, {settings.output} would be rewritten at the end ({counts})"
    return f"compaction:     no, not this time ({counts}; it happens when superseded outnumber current)"


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


def print_dry_run(outcome: RunOutcome, settings: Settings) -> None:
    report = outcome.dry_run
    capacity, window = window_for_rate(settings.rate)
    per_second = capacity / window
    lines = [
        f"dry run of {settings.input}: nothing was sent",
        f"  rows read:      {report['rows']:,}",
        f"  valid IDs:      {report['valid']:,}",
        f"  invalid rows:   {report['invalid']:,}",
        f"  duplicates:     {report['duplicates']:,}",
        *([f"  already ok:     {report['kept']:,} (kept by --resume)"] if report["kept"] else []),
        f"  would send:     {report['would_send']:,} calls ≈ {human_duration(report['estimated_s'])} "
        f"at {settings.rate:g}/s ({per_second:.2f}/s effective)",
    ]
    if "compaction" in report:
        lines.append("  " + _forecast_line(report, settings))
    for bad in report["first_invalid"]:
        lines.append(f"    line {bad['line']}: {bad['reason']}")
    if report["invalid"] > len(report["first_invalid"]):
        lines.append(f"    … and {report['invalid'] - len(report['first_invalid']):,} more")
    click.echo("\n".join(lines), err=True)  # standard output is for results
