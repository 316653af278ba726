"""The dry-run report as people and machines read it: one ``dry_run`` event, the same as text."""

from __future__ import annotations

import re
from typing import TextIO

import click

from batch.cli._console import human_duration, plural
from batch.cli._outcome import DryRunReport, Forecast, RunOutcome
from batch.cli._screen import terminal_width, wrap
from batch.cli._settings import Settings
from batch.engine import Logger, window_for_rate

__all__ = ["print_dry_run"]

#: where the figures start: ``  rows read:      `` (2 + 16 columns)
_VALUE_COLUMN = 18
_LABELLED = re.compile(r"  \S[^:]*: +")
#: the input's properties the report names, as it names them
_UNDERSTOOD = (
    ("format", "format"),
    ("encoding", "encoding"),
    ("delimiter", "delimiter"),
    ("sheet", "sheet"),
    ("header", "header"),
    ("id_column", "ID column"),
)


def print_dry_run(
    outcome: RunOutcome, settings: Settings, *, log: Logger, human: TextIO | None
) -> None:
    """The ``dry_run`` event (JSON mode), and the same facts as text for people."""
    report = outcome.dry_run
    assert report is not None
    capacity, window = window_for_rate(report.estimated_rate)
    per_second = capacity / window
    log.info(
        "dry_run",
        input=settings.input,
        **report.as_event(),
        rate=settings.rate,
        effective_rate=round(per_second, 3),
        exit_code=outcome.exit_code,
    )
    if human is None:
        return
    lines = _lines(report, settings, per_second)
    if settings.quiet:
        lines = [lines[0][:-1] + f"; {report.would_send:,} to send, {report.invalid:,} invalid"]
    width = terminal_width(human)
    # On a terminal, between words; a labelled figure goes on under its value.
    wrapped = [part for line in lines for part in wrap(line, width, hang=_hang(line))]
    click.echo("\n".join(wrapped), file=human)


def _hang(line: str) -> int | None:
    """Where a wrapped line goes on: under the value of ``  label:        value``."""
    labelled = _LABELLED.match(line)
    return labelled.end() if labelled and labelled.end() == _VALUE_COLUMN else None


def _lines(report: DryRunReport, settings: Settings, per_second: float) -> list[str]:
    understood = [
        f"  {name + ':':<16}{report.understood[key]}"
        + (" (hidden)" if key == "sheet" and report.understood.get("sheet_hidden") else "")
        for key, name in _UNDERSTOOD
        if report.understood.get(key) is not None
    ]
    lines = [
        f"Dry run of {settings.input}: nothing was sent.",
        *understood,
        f"  rows read:      {report.rows:,}",
        *([f"  blank rows:     {report.blank:,} (skipped)"] if report.blank else []),
        f"  valid IDs:      {report.valid:,}",
        f"  invalid rows:   {report.invalid:,}",
        f"  duplicates:     {report.duplicates:,}",
        *(
            [f"  already ok:     {report.already_ok:,} (in the results file: not sent again)"]
            if report.already_ok
            else []
        ),
        f"  would send:     {_calls(report, settings, per_second)}",
    ]
    if report.forecast is not None:
        lines.append("  " + _forecast_line(report.forecast, settings))
    if report.beyond_limit:
        lines.append(f"  left by --limit: {report.beyond_limit:,} IDs, for a later --resume")
    lines.append("  " + _quota_line(report))
    lines += [f"    line {line}: {reason}" for line, reason in report.first_invalid]
    if report.invalid > len(report.first_invalid):
        lines.append(f"    … and {report.invalid - len(report.first_invalid):,} more")
    return lines


def _calls(report: DryRunReport, settings: Settings, per_second: float) -> str:
    calls = plural(report.would_send, "call")
    if report.would_send <= 1:
        return calls
    took = human_duration(report.estimated_s)
    if report.estimated_rate >= settings.rate:
        return f"{calls}, about {took} at --rate {settings.rate:g} ({per_second:.2f}/s effective)"
    return (
        f"{calls}, about {took} at {report.estimated_rate:g}/s, the API's documented limit "
        f"(--rate {settings.rate:g} is above it; {per_second:.2f}/s effective)"
    )


def _forecast_line(forecast: Forecast, settings: Settings) -> str:
    counts = (
        f"~{forecast.superseded_after:,} superseded vs ~{forecast.current_after:,} current "
        "records after it"
    )
    if forecast.compaction == "off":
        return f"compaction:     off (--keep-history): {settings.output} keeps every record"
    if forecast.compaction == "yes":
        return f"compaction:     yes, {settings.output} would be rewritten at the end ({counts})"
    return f"compaction:     no, not this time ({counts}; it happens when superseded outnumber current)"


def _quota_line(report: DryRunReport) -> str:
    if report.quota_store == "none":
        return "quota:          not shared (--quota-store none): this run paces itself alone"
    if report.quota_runs is None:
        return f"quota:          shared ({report.quota_store}), runs using it now: unknown without the token"
    return f"quota:          shared ({report.quota_store}), {report.quota_runs} run(s) using it now"
