"""The command line: one command per job found in the ``batch.jobs`` entry-point group, the
commands an installed distribution adds (``batch.commands``), and ``compact``."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import sys
import threading
import time
from importlib import metadata
from typing import Any, TextIO

import anyio
import click
import structlog

from batch._distribution import JOBS_GROUP, distribution
from batch.cli._checks import check_distinct, check_side_files
from batch.cli._command import job_command
from batch.cli._compact import compact_command
from batch.cli._context import Run
from batch.cli._dry_report import print_dry_run
from batch.cli._logging import LogSetup, Redactor, configure_logging
from batch.cli._metrics import write_metrics
from batch.cli._outcome import EXIT_PIPE
from batch.cli._progress import shows_bar
from batch.cli._run import execute
from batch.cli._settings import Settings
from batch.cli._signals import SIGNAL_EXIT, note_again, noting_signals
from batch.cli._streams import droppable_stderr, quiet_stdout
from batch.cli._summary import print_summary
from batch.engine import (
    BatchError,
    ConfigError,
    HeldByAnotherRun,
    Job,
    Logger,
    Stats,
    proxy_secrets,
    reason_of,
)

__all__ = ["EXIT_INTERNAL", "main", "run"]

EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE: a bug, not something the user did
COMMANDS_GROUP = "batch.commands"


def run(job: Job, settings: Settings) -> int:
    """Run one job from settings; returns the exit code. Never raises for user errors.

    A terminal that goes away during the run (a dropped ssh session) is dropped, never
    fatal (`droppable_stderr`): the run still writes its files, metrics and log.
    """
    with droppable_stderr():
        code = _run(job, settings)
    quiet_stdout()
    _leave_if_stuck(code)
    return code


def _run(job: Job, settings: Settings) -> int:
    redactor = Redactor()
    # Known from the start, so that even an error before it is read cannot leak it.
    redactor.add(os.environ.get(job.token_env, "").strip(), permanent=True)
    for secret in proxy_secrets(settings.proxy, os.environ):  # proxy passwords, likewise
        redactor.add(secret, permanent=True)
    try:
        check_distinct(settings)
        check_side_files(job, settings)
        clash = None
    except ConfigError as exc:  # checked first: --log-file may be the one that clashes
        clash = exc
    try:
        setup = LogSetup(
            fmt=settings.log_format,
            level=settings.log_level,
            log_file=None if clash else settings.log_file,
            quiet=settings.quiet,
            errors_file=settings.errors,
        )
        stream, console = configure_logging(setup, redactor)
    except OSError as exc:
        click.echo(
            f"{_prog()}: cannot write --log-file {settings.log_file!r}: {exc.strerror}", err=True
        )
        return 2
    try:
        if clash is not None:
            return _user_error(clash, _logger(), console, None)
        code = _run_logged(job, settings, redactor, console, stream)
    finally:
        if settings.log_file and not clash:
            stream.close()
    if code == EXIT_PIPE:
        # Standard output is gone: flushing it at exit would only print a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


def _leave_if_stuck(code: int) -> None:
    """After a signal, a thread may still be blocked on the input: in ``open()`` of a FIFO
    no writer opened, or reading a quiet pipe or standard input (holding its lock). A
    normal exit would wait for it, for ever. Everything is written by now: leave at once."""
    if code not in SIGNAL_EXIT.values():
        return
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    deadline = time.monotonic() + 0.2  # idle pool threads are ending: give them that
    for thread in others:
        if not thread.daemon:
            thread.join(max(deadline - time.monotonic(), 0))
    if any(thread.is_alive() and not thread.daemon for thread in others):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _run_logged(
    job: Job, settings: Settings, redactor: Redactor, console: bool, stream: TextIO
) -> int:
    run = Run(job, settings, _logger(), redactor)
    # Until the run's own receiver is up (and after it is gone) a signal is only noted:
    # the run reads the note as soon as it starts, and stops before any call.
    received: list[signal.Signals] = []
    with noting_signals(received):
        return _run_noting(run, console, stream, received)


def _run_noting(run: Run, console: bool, stream: TextIO, received: list[signal.Signals]) -> int:
    settings, log = run.settings, run.log
    human = _human_stream(settings, console, stream)
    try:
        bar = shows_bar(settings, human)
        outcome = anyio.run(lambda: execute(dataclasses.replace(run, progress_bar=bar), received))
    except HeldByAnotherRun as exc:  # the run that holds the file owns the metrics too
        return _user_error(exc, log, console, settings)
    except BatchError as exc:
        return _failed_early(settings, _user_error(exc, log, console, settings), run.stats, log)
    except Exception as exc:  # a bug: one line for the user, the traceback only at debug level
        system = _system_error(exc)
        if system is not None:  # the machine's, not a bug: said as such, never "internal"
            log.debug("system_error", exc_info=True)
            code = _user_error(system, log, console, settings)
            return _failed_early(settings, code, run.stats, log)
        log.debug("internal_error", exc_info=True)
        if not console or settings.log_file:
            log.error("internal_error", error=type(exc).__name__)
        click.echo(
            f"{_prog()}: internal error ({type(exc).__name__}); run again with --log-level debug "
            "to see the details, and please report it",
            err=True,
        )
        return _failed_early(settings, EXIT_INTERNAL, run.stats, log)
    finally:
        note_again(received)  # asyncio put the defaults back: a late signal kills nothing
    if settings.dry_run:
        print_dry_run(outcome, settings, log=log, human=human)
    else:
        print_summary(outcome, settings, log=log, human=human)
    return outcome.exit_code


def _human_stream(settings: Settings, console: bool, stream: TextIO) -> TextIO | None:
    """Where the text for people goes (the bar, the summary, the dry-run report), if anywhere.

    The console log stream; with --log-file, the terminal if standard error is one (the
    logs go to the file, the person at the terminal still sees the run). Never a stream
    that carries JSON lines: each of those must parse.
    """
    if settings.log_file:
        return sys.stderr if sys.stderr.isatty() else None
    return stream if console else None


def _user_error(exc: BatchError, log: Logger, console: bool, settings: Settings | None) -> int:
    """Tell the user once: a JSON event for machines, a plain line for a person, or both
    when the log goes to a file (the event there, the line on the terminal)."""
    event = "usage_error" if exc.exit_code == 2 else "error"
    log_file = bool(settings and settings.log_file)
    if not console or log_file:
        log.error(event, message=str(exc), exit_code=exc.exit_code)
    if console or log_file:
        click.echo(f"{_prog()}: {exc}", err=True)
    return exc.exit_code


def _failed_early(settings: Settings, code: int, stats: Stats, log: Logger) -> int:
    """Monitoring must see a run that never got going, or broke, too (exit 2, 3, 70, 130),
    with what it did count."""
    if settings.metrics_file and not settings.dry_run:
        write_metrics(settings.metrics_file, stats, elapsed_s=None, exit_code=code, log=log)
    return code


def _system_error(exc: BaseException) -> BatchError | None:
    """An operating-system error that escaped the run's own handling (each one the run
    knows of is handled where it happens), as one line and exit 3; None for anything
    else (a bug). Through exception groups: every leaf must be an OSError."""
    leaves = _leaves(exc)
    if not leaves or not all(isinstance(leaf, OSError) for leaf in leaves):
        return None
    first = leaves[0]
    assert isinstance(first, OSError)
    where = f" ({first.filename})" if getattr(first, "filename", None) else ""
    return BatchError(
        f"stopped by the system: {reason_of(first)}{where}; what was written is kept, "
        "fix the cause and finish with --resume",
        exit_code=3,
    )


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _logger() -> Logger:
    """The command line's logger: structlog's, configured by `configure_logging`."""
    log: Logger = structlog.get_logger("batch")
    return log


def _prog() -> str:
    return distribution()[0]


def _usage_error(exc: click.UsageError) -> int:
    """A usage error click found, told as every other error a user can cause: one line for
    a person at a terminal, one ``usage_error`` event for a machine (no --log-format was
    read yet: the automatic choice), with where the options are listed."""
    command = exc.ctx.command_path.split()[1:] if exc.ctx is not None else []
    message = f"{exc.format_message()} (see: {' '.join([_prog(), *command, '--help'])})"
    _, console = configure_logging(LogSetup(), Redactor())
    if console:
        click.echo(f"{_prog()}: {message}", err=True)
    else:
        _logger().error("usage_error", message=message, exit_code=exc.exit_code)
    return exc.exit_code


@functools.cache
def _entries() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for group in (JOBS_GROUP, COMMANDS_GROUP):
        for entry in metadata.entry_points(group=group):
            found.setdefault(entry.name, entry)
    return found


class _Commands(click.Group):
    """The jobs' commands and the added ones come from entry points, loaded when asked for;
    ``compact`` is the engine's own (it works on any job's results file)."""

    def _entries(self) -> dict[str, metadata.EntryPoint]:
        return _entries()

    def main(  # type: ignore[override]  # standalone mode only changes how usage errors look
        self, args: list[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> None:
        """As click's, but a usage error (an unknown option, a value its type refuses) is one
        line, as every other error a user can cause, with where the options are listed;
        click's own shape is a usage line, a hint, a blank line and the error."""
        if not extra.get("standalone_mode", True):
            return super().main(args, prog_name, **extra)  # type: ignore[no-any-return]
        extra["standalone_mode"] = False
        try:
            code = super().main(args, prog_name, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help itself, asked for by giving nothing
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            sys.exit(_usage_error(exc))
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._entries(), *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = self._entries().get(cmd_name)
        if entry is None:
            return None
        loaded = entry.load()
        return loaded if isinstance(loaded, click.Command) else job_command(loaded, run)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    version=distribution()[1], prog_name=distribution()[0], message="%(prog)s %(version)s"
)
def main() -> None:
    """Bulk API jobs: paced, retried, resumable, one record per ID.

    Each command's --help has its options and examples; --simulate tries a
    job against a built-in simulated API, with no token.
    """


main.add_command(compact_command)
