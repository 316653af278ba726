"""The command line: one command per job found in the ``batch.jobs`` entry-point group."""

from __future__ import annotations

import functools
import math
import os
import sys
from datetime import timedelta
from importlib import metadata
from typing import Any, TextIO

import anyio
import click
import structlog

from batch._errors import BatchError, ConfigError
from batch._logging import Redactor, configure_logging
from batch._metrics import write_metrics
from batch._report import print_dry_run, print_summary
from batch._run import execute
from batch._settings import Settings, check_distinct, parse_duration
from batch._stats import Stats
from batch._types import Job
from batch._version import JOBS_GROUP, distribution

__all__ = ["EXIT_INTERNAL", "job_command", "main"]

EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE: a bug, not something the user did
COMMANDS_GROUP = "batch.commands"


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
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


def job_command(job: Job) -> click.Command:
    """Build the command for a job; its options are the contract's, the same for every job."""
    positive = _Positive()

    @click.command(name=job.name, help=job.help, short_help=job.summary)
    @click.argument("input", metavar="INPUT")
    @click.option(
        "--input-format",
        type=click.Choice(["csv", "jsonl"]),
        help="Override the guess from the file name.",
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
    @click.option(
        "--log-format",
        type=click.Choice(["auto", "json", "console"]),
        default="auto",
        show_default=True,
    )
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
    def command(**params: Any) -> None:
        sys.exit(run(job, Settings(**params)))

    return command


def run(job: Job, settings: Settings) -> int:
    """Run one job from settings; returns the exit code. Never raises for user errors."""
    redactor = Redactor()
    # Known from the start, so that even an error before it is read cannot leak it.
    redactor.add(os.environ.get(job.token_env, "").strip(), permanent=True)
    try:
        check_distinct(settings)
        clash = None
    except ConfigError as exc:  # checked first: --log-file may be the one that clashes
        clash = exc
    try:
        stream, console = configure_logging(
            fmt=settings.log_format,
            level=settings.log_level,
            log_file=None if clash else settings.log_file,
            redactor=redactor,
        )
    except OSError as exc:
        click.echo(
            f"{_prog()}: cannot write --log-file {settings.log_file!r}: {exc.strerror}", err=True
        )
        return 2
    try:
        if clash is not None:
            return _user_error(clash, structlog.get_logger("batch"), console)
        code = _run_logged(job, settings, redactor, console, stream)
    finally:
        if settings.log_file and not clash:
            stream.close()
    return code


def _run_logged(
    job: Job, settings: Settings, redactor: Redactor, console: bool, stream: TextIO
) -> int:
    log = structlog.get_logger("batch")
    try:
        bar = console and sys.stderr.isatty() and not settings.no_progress and not settings.log_file
        outcome = anyio.run(
            lambda: execute(job, settings, redactor=redactor, log=log, progress_bar=bar)
        )
    except KeyboardInterrupt:  # Ctrl-C before the run installed its own handler
        log.warning("interrupted", signal="SIGINT", message="stopped before any call")
        click.echo(f"{_prog()}: interrupted before any call; nothing was sent", err=True)
        return _failed_early(settings, 130, log)
    except BatchError as exc:
        return _failed_early(
            settings, _user_error(exc, log, console or bool(settings.log_file)), log
        )
    except Exception as exc:  # a bug: one line for the user, the traceback only at debug level
        log.debug("internal_error", exc_info=True)
        log.error("internal_error", error=type(exc).__name__)
        click.echo(
            f"{_prog()}: internal error ({type(exc).__name__}); run again with --log-level debug "
            "to see the details, and please report it",
            err=True,
        )
        return _failed_early(settings, EXIT_INTERNAL, log)
    if settings.dry_run:
        print_dry_run(outcome, settings)
    else:
        print_summary(outcome, settings, log=log, console=console, stream=stream)
    return outcome.exit_code


def _user_error(exc: BatchError, log: Any, echo: bool) -> int:
    log.error(
        "usage_error" if exc.exit_code == 2 else "error", message=str(exc), exit_code=exc.exit_code
    )
    if echo:
        click.echo(f"{_prog()}: {exc}", err=True)
    return exc.exit_code


def _failed_early(settings: Settings, code: int, log: Any) -> int:
    """Monitoring must see a run that never got going too (exit 2, 70, 130)."""
    if settings.metrics_file and not settings.dry_run:
        prefix = _prog().replace("-", "_")
        write_metrics(
            settings.metrics_file, prefix, Stats(), elapsed_s=None, exit_code=code, log=log
        )
    return code


def _prog() -> str:
    return distribution()[0]


@functools.cache
def _entries() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for group in (JOBS_GROUP, COMMANDS_GROUP):
        for entry in metadata.entry_points(group=group):
            found.setdefault(entry.name, entry)
    return found


class _Commands(click.Group):
    """Commands come from entry points, loaded when asked for."""

    def _entries(self) -> dict[str, metadata.EntryPoint]:
        return _entries()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._entries())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self._entries().get(cmd_name)
        if entry is None:
            return None
        loaded = entry.load()
        return loaded if isinstance(loaded, click.Command) else job_command(loaded)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    version=distribution()[1], prog_name=distribution()[0], message="%(prog)s %(version)s"
)
def main() -> None:
    """Bulk API jobs: paced, retried, resumable, one record per ID.

    Each command's --help has its options and examples; --simulate tries a
    job against a built-in simulated API, with no token.
    """
