"""One command per job: the options of `Settings`, those of every job and the job's own."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from batch._distribution import metric_prefix
from batch.cli._declare import declared, parameters
from batch.cli._metrics import write_metrics
from batch.cli._settings import Settings
from batch.engine import Job, QuietLogger, Stats

__all__ = ["job_command", "setting_option"]

_F = TypeVar("_F", bound=Callable[..., object])


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
                write_metrics(path, Stats(), elapsed_s=None, exit_code=2, log=QuietLogger())
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
    """The command for a job: one option per field of `Settings` that the job has (most are
    every job's), in its order; ``run`` gets the settings and returns the exit code."""
    # What the declarations' {job.…} and {env_prefix} stand for (see batch.cli._declare).
    words = {"job": job, "env_prefix": metric_prefix().upper()}

    def command(**params: Any) -> None:  # Any: what click parsed, one value per setting
        source = click.get_current_context().get_parameter_source("output")
        params["output_given"] = source is not click.core.ParameterSource.DEFAULT
        sys.exit(run(job, Settings(**params)))

    return _JobCommand(
        name=job.name,
        callback=command,
        params=parameters(Settings, words, job),
        help=job.help,
        short_help=job.summary,
    )


def setting_option(name: str, *, help: str | None = None) -> Callable[[_F], _F]:
    """The option of ``Settings.<name>`` on another command (``compact --wait``), with that
    command's help if it needs its own words."""
    decls, given = declared(Settings, name).click_args(name, {})
    if help is not None:
        given["help"] = help
    return click.option(*decls, **given)
