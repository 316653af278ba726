"""One command per job: the contract's options, the same for every job."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

from batch._distribution import metric_prefix
from batch.cli._metrics import write_metrics
from batch.cli._settings import Settings, parse_duration
from batch.engine import ConfigError, Job, QuietLogger, Stats, parse_proxy, parse_quota_store
from batch.input import FORMATS

__all__ = ["job_command", "log_format_option", "wait_option"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _proxy(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if ctx.params.get("no_proxy") and value.strip():
        raise click.BadParameter("--proxy URL and --no-proxy contradict each other: choose one")
    if value.strip():
        try:
            parse_proxy(value, "--proxy")
        except ConfigError as exc:  # the message shows the URL without its credentials
            raise click.BadParameter(str(exc)) from None
    return value


def _no_proxy(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value and (ctx.params.get("proxy") or "").strip():
        raise click.BadParameter("--proxy URL and --no-proxy contradict each other: choose one")
    return value


def _column_names(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(name.strip() for name in value.split(","))
    if not all(names):
        raise click.BadParameter(f"{value!r}: column names separated by commas, none empty")
    if len(set(names)) < len(names):
        raise click.BadParameter(f"{value!r} names a column twice")
    return names


def _delimiter(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    char = {"tab": "\t", "\\t": "\t"}.get(value.lower(), value)
    if len(char) != 1 or char in '\r\n"':
        raise click.BadParameter(f"{value!r} is not one character (examples: ';', '|', tab)")
    return char


def _quota_store(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return parse_quota_store(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


class _Positive(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A finite number > 0 (click's FloatRange lets NaN through and prints its bounds in --help)."""

    name = "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} must be a number greater than 0", param, ctx)
        return number


def wait_option(what: str) -> Callable[[_F], _F]:
    """``--wait SECONDS``, the same for every command that takes the results-file lock."""
    return click.option(
        "--wait",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        metavar="SECONDS",
        help=f"When another run holds {what}, wait this long for it (else exit 75).",
    )


#: ``--log-format``, the same for every command.
log_format_option = click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
)


class _JobCommand(click.Command):
    """A job's command: an option click refuses (a typo in a crontab) still reaches
    --metrics-file, so monitoring sees every exit 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click consumes the list as it parses
        try:
            return super().parse_args(ctx, args)
        except click.UsageError:
            path = _metrics_file_in(given)
            if path and path != "-":
                write_metrics(
                    path, metric_prefix(), Stats(), elapsed_s=None, exit_code=2, log=QuietLogger()
                )
            raise


def _metrics_file_in(args: list[str]) -> str | None:
    """The --metrics-file given in raw arguments that click could not parse (the last one)."""
    found = None
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--metrics-file" and index + 1 < len(args):
            found = args[index + 1]
        elif arg.startswith("--metrics-file="):
            found = arg.split("=", 1)[1]
    return found


def job_command(job: Job, run: Callable[[Job, Settings], int]) -> click.Command:
    """Build the command for a job; its options are the contract's, the same for every job."""
    positive = _Positive()
    # Named after the distribution (its metric prefix, upper case), like its metrics.
    quota_env = metric_prefix().upper() + "_QUOTA_STORE"

    @click.command(cls=_JobCommand, name=job.name, help=job.help, short_help=job.summary)
    @click.argument("input", metavar="INPUT")
    @click.option(
        "--input-format",
        type=click.Choice(list(FORMATS)),
        help="Override the guess from the file name (and from the content).",
    )
    @click.option(
        "--id-field",
        default=job.key_name,
        show_default=True,
        metavar="NAME",
        help="CSV column or JSONL key holding the ID.",
    )
    @click.option(
        "-o",
        "--output",
        default="-",
        show_default=True,
        metavar="PATH",
        help="Results file; .csv → CSV, else JSONL; - is standard output.",
    )
    @click.option(
        "--errors",
        metavar="PATH",
        help="Also write each failed record to this CSV (valid INPUT for a re-run).",
    )
    @click.option(
        "--rate",
        type=positive,
        metavar="N",
        default=5.0,
        show_default=True,
        help="Requests per second, never more in any rolling 1-second window.",
    )
    @click.option(
        "--concurrency",
        metavar="N",
        type=click.IntRange(min=1, max=1000),
        default=8,
        show_default=True,
        help="Requests in flight at most.",
    )
    @click.option(
        "--max-attempts",
        metavar="N",
        type=click.IntRange(min=1, max=100),
        default=5,
        show_default=True,
        help="Attempts per ID, the first included.",
    )
    @click.option(
        "--timeout",
        type=positive,
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="Per attempt.",
    )
    @click.option(
        "--base-url",
        envvar=job.base_url_env,
        metavar="URL",
        help=f"API root (env {job.base_url_env}; default {job.default_base_url}).",
    )
    @click.option(
        "--token-file",
        metavar="PATH",
        help=f"Read the API token from this file instead of {job.token_env}.",
    )
    @click.option(
        "--resume", is_flag=True, help="Keep the ok records of --output, redo the rest, append."
    )
    @click.option(
        "--dry-run", is_flag=True, help="Read and validate the input, report, call nothing."
    )
    @click.option(
        "--simulate", is_flag=True, help="Run against the built-in simulated API (no token needed)."
    )
    @click.option(
        "--backoff-base",
        type=positive,
        default=0.5,
        show_default=True,
        metavar="SECONDS",
        help="Backoff ceiling after the first failed attempt; doubles each retry (full jitter).",
    )
    @click.option(
        "--backoff-cap",
        type=positive,
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="Longest wait between attempts (a server's Retry-After is honoured up to 60 s).",
    )
    @click.option(
        "--give-up-after",
        type=click.FloatRange(min=0),
        default=60.0,
        show_default=True,
        metavar="SECONDS",
        help="Stop (exit 3) when only transient failures came back for this long; 0 never.",
    )
    @click.option(
        "--grace",
        type=click.FloatRange(min=0),
        default=5.0,
        show_default=True,
        metavar="SECONDS",
        help="On Ctrl-C/SIGTERM, how long requests in flight may finish.",
    )
    @log_format_option
    @click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        default="info",
        show_default=True,
    )
    @click.option("--log-file", metavar="PATH", help="Logs there instead of standard error.")
    @click.option("--no-progress", is_flag=True, help="No progress bar even on a terminal.")
    @click.option(
        "--progress-interval",
        type=positive,
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="A progress log event this often when not on a terminal.",
    )
    @click.option(
        "--metrics-file",
        metavar="PATH",
        help="Prometheus text file for node_exporter, replaced atomically.",
    )
    @click.option(
        "--refresh-within",
        callback=_duration,
        metavar="DURATION",
        help="With --resume: also re-issue results expiring within DURATION (90m, 2h).",
    )
    @click.option(
        "--overwrite",
        is_flag=True,
        help="Start a results file that holds records over; they are kept in PATH.prev "
        "until the new run finishes.",
    )
    @wait_option("the results file")
    @click.option(
        "--proxy",
        callback=_proxy,
        metavar="URL",
        help="Forward proxy, http://[USER:PASSWORD@]HOST:PORT ('' goes direct); without it "
        "HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read as curl does (loopback goes direct). "
        "Credentials are safer in HTTPS_PROXY than here, where ps shows them.",
    )
    @click.option(
        "--no-proxy",
        is_flag=True,
        callback=_no_proxy,
        help="Connect directly, whatever HTTPS_PROXY says.",
    )
    @click.option(
        "--keep-history",
        is_flag=True,
        help="With --resume: append only, never rewrite the results file to its current state.",
    )
    @click.option(
        "--keep-columns",
        callback=_column_names,
        metavar="A,B",
        help="Carry these input columns into the results and errors records (never into logs).",
    )
    @click.option(
        "--limit",
        type=click.IntRange(min=1),
        metavar="N",
        help="Process only the first N valid IDs (a canary); the rest is left for --resume.",
    )
    @click.option("--quiet", is_flag=True, help="Print only errors and the one-line summary.")
    @click.option(
        "--delimiter",
        callback=_delimiter,
        metavar="CHAR",
        help="CSV field separator (tab: 'tab' or '\\t'); default: from the header (, ; tab |).",
    )
    @click.option(
        "--encoding",
        metavar="NAME",
        help="Input text encoding (e.g. cp1252); default: a BOM's, UTF-8, else detected "
        "(refused when it cannot be told).",
    )
    @click.option(
        "--sheet",
        metavar="NAME",
        help="The sheet of an .xlsx/.ods workbook, hidden ones included (default: the active "
        "sheet if visible, else the first visible one).",
    )
    @click.option(
        "--header-row",
        type=click.IntRange(min=1),
        metavar="N",
        help="The line (a workbook's row) holding the column names (default: the first of the "
        "first 20 that holds the ID column).",
    )
    @click.option(
        "--quota-store",
        envvar=quota_env,
        default="local",
        show_default=True,
        callback=_quota_store,
        metavar="local|none|redis://HOST:PORT/DB",
        help="Where the organization's rolling-window quota is shared with other runs: "
        "local (this host, same token and base URL), redis://… (any host using that "
        f"Redis), none (this run alone). Env {quota_env}.",
    )
    def command(**params: Any) -> None:
        source = click.get_current_context().get_parameter_source("output")
        params["output_given"] = source is not click.core.ParameterSource.DEFAULT
        sys.exit(run(job, Settings(**params)))

    return command
