"""`compact FILE`: rewrite a results file to its current state, on demand.

Generic: the job is found from the file itself (a CSV header is a job's
columns; a JSONL record has a job's key and fields), among the jobs installed
in the ``batch.jobs`` entry-point group; ``--job NAME`` settles a file that
several jobs could have written. The rewrite is the one a ``--resume`` run does
at its end (`batch.output.compact`): under the results-file lock, atomic.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

import anyio
import click
import structlog

from batch._distribution import JOBS_GROUP, distribution
from batch.cli._command import setting_option
from batch.cli._logging import LogSetup, Redactor, configure_logging
from batch.cli._summary import compacted_line
from batch.engine import BatchError, ConfigError, Job, Logger
from batch.output import (
    check_output_path,
    compact,
    format_for,
    open_results,
    plan,
    written_by,
)

__all__ = ["compact_command", "job_of"]


def job_of(path: str, jobs: dict[str, Job], name: str | None) -> Job:
    """The job whose results file ``path`` is (ConfigError if none or, without ``name``, several)."""
    if name is not None:
        if name not in jobs:
            raise ConfigError(f"--job {name!r}: no such job (installed: {', '.join(sorted(jobs))})")
        return jobs[name]
    fitting = [job for job in jobs.values() if written_by(path, job)]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise ConfigError(
            f"{path!r} is not a results file of {_jobs_phrase(jobs)} (nothing was changed)"
        )
    names = ", ".join(sorted(job.name for job in fitting))
    raise ConfigError(f"{path!r} could be the results file of {names}: say which with --job NAME")


def _jobs_phrase(jobs: dict[str, Job]) -> str:
    return f"the {next(iter(jobs))} job" if len(jobs) == 1 else "any installed job"


def _installed_jobs() -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    for entry in metadata.entry_points(group=JOBS_GROUP):
        jobs.setdefault(entry.name, entry.load())
    return jobs


_HELP = """Rewrite the results FILE to its current state, atomically.

\b
Kept: for each ID its newest ok record, plus its newest error when that is
newer (a failed refresh does not drop a token still valid); one record per
invalid input row. Dropped: everything superseded, such as expired tokens a
newer one replaced. A --resume run does this by itself when superseded
records outnumber current ones (not with --keep-history); use this command
for a file written with --keep-history, or after a crash.

\b
Examples:
  %(prog)s compact tokens.jsonl
  %(prog)s compact --dry-run tokens.csv
"""


@click.command(
    name="compact",
    help=_HELP.replace("%(prog)s", distribution()[0]),
    short_help="Rewrite a results file to its current state.",
)
@click.argument("file", metavar="FILE")
@click.option(
    "--job",
    "job_name",
    metavar="NAME",
    help="The job that wrote FILE, when its layout fits several installed jobs.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be kept and dropped; change nothing.")
@setting_option("wait", help="When another run holds FILE, wait this long for it (else exit 75).")
@setting_option("log_format")
def compact_command(
    file: str, job_name: str | None, dry_run: bool, wait: float, log_format: str
) -> None:
    _, console = configure_logging(LogSetup(fmt=log_format), Redactor())
    log: Logger = structlog.get_logger("batch")
    try:
        line = _compact(file, job_name, dry_run=dry_run, wait=wait, log=log)
    except KeyboardInterrupt:
        # The rewrite is atomic: the file is the whole old one or the whole new one.
        click.echo(f"{distribution()[0]}: interrupted; {file!r} is whole", err=True)
        sys.exit(130)
    except BatchError as exc:
        if not console:
            log.error("usage_error" if exc.exit_code == 2 else "error", message=str(exc))
        else:
            click.echo(f"{distribution()[0]}: {exc!s}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        message = f"cannot compact {file!r}: {exc.strerror or exc}; it is unchanged"
        if not console:
            log.error("error", message=message)
        else:
            click.echo(f"{distribution()[0]}: {message}", err=True)
        sys.exit(1)
    click.echo(line)


def _compact(path: str, job_name: str | None, *, dry_run: bool, wait: float, log: Logger) -> str:
    if not os.path.isfile(path):
        raise ConfigError(f"no such results file: {path!r}")
    job = job_of(path, _installed_jobs(), job_name)
    if dry_run:
        with open(path, "rb") as lines:
            planned = plan(lines, fmt=format_for(path), job=job)
        log.info("compact_dry_run", path=path, kept=planned.kept, dropped=planned.dropped,
                 unreadable=planned.unreadable)  # fmt: skip
        return (
            f"{path}: would keep {planned.kept:,} records and drop {planned.dropped:,}"
            + (f" and {planned.unreadable:,} damaged lines" if planned.unreadable else "")
            + " (nothing was changed)"
        )

    def warn(event: str, fields: dict[str, object]) -> None:
        log.warning(event, **fields)

    check_output_path(path, "FILE")  # a link or a folder of another user's: refused
    out = anyio.run(lambda: open_results(path, start="resume", wait=wait, warn=warn))
    try:
        planned, done = compact(out, job, force=True)
    finally:
        out.close()
    if done is None:
        return f"{path} is already compact: {planned.kept:,} current records"
    log.info("compacted", path=path, **done.as_dict())
    return f"{path}: " + compacted_line(done.as_dict())
