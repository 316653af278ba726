"""The settings checked together, before any file is touched or any call is made.

Each refusal is a ConfigError (exit 2) with one line that names the options involved.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from batch.cli._metrics import foreign_to_metrics
from batch.cli._settings import Settings
from batch.engine import ConfigError, Job, ceiling_for, error_fields
from batch.output import check_output_path, holds_secrets

__all__ = [
    "can_ask",
    "check_distinct",
    "check_keep_columns",
    "check_settings",
    "check_side_files",
    "refuse_secrets_on_terminal",
]

#: options that contradict each other, or that need another: when refused, and why
_COMBINATIONS: tuple[tuple[Callable[[Settings], bool], str], ...] = (
    (lambda s: s.resume and s.output == "-",
     "--resume needs -o/--output to be a file: it reads the records written there"),
    (lambda s: s.overwrite and s.resume,
     "--overwrite and --resume contradict each other: --resume continues the results "
     "file, --overwrite starts it over"),
    (lambda s: s.overwrite and s.output == "-", "--overwrite needs -o/--output to be a file"),
    (lambda s: s.keep_history and not s.resume,
     "--keep-history works with --resume (without it, the results file is new)"),
    (lambda s: s.refresh_within is not None and not s.resume,
     "--refresh-within works with --resume (it re-issues records of a previous run)"),
)  # fmt: skip


def check_settings(job: Job, s: Settings) -> None:
    """The options of one run, together: combinations, --keep-columns, secrets on a screen."""
    for refused, why in _COMBINATIONS:
        if refused(s):
            raise ConfigError(why)
    check_keep_columns(job, s.keep_columns)
    try:
        ceiling_for(s.rate, job.documented_rate, s.reserve)
    except ValueError as exc:
        raise ConfigError(f"--reserve {s.reserve:g}: {exc}") from None
    if s.output == "-" and not (s.output_given or s.dry_run or s.simulate) and job.secret_fields:
        refuse_secrets_on_terminal(job)
    if job.confirmation and not (s.yes or s.dry_run or s.simulate or can_ask(s)):
        raise ConfigError(
            f"{job.name} cannot be undone and there is no terminal to ask on: pass --yes to "
            "run it without asking (nothing was done)"
        )


def can_ask(s: Settings) -> bool:
    """Whether a person can be asked: standard input (not the run's input) and standard
    error are a terminal."""
    return s.input != "-" and sys.stdin.isatty() and sys.stderr.isatty()


def check_distinct(s: Settings) -> None:
    """No two of the input, results, errors, metrics and log files may be one file, and
    only INPUT and --output may be ``-``.

    A re-run of an errors file names it twice; a metrics file named like the
    results would replace the tokens with metrics.
    """
    for option, path in (
        ("--errors", s.errors),
        ("--metrics-file", s.metrics_file),
        ("--log-file", s.log_file),
    ):
        if path == "-":
            raise ConfigError(
                f"{option} needs a file name: '-' (standard input or output) is for INPUT "
                "and -o only"
            )
    seen: dict[object, tuple[str, str]] = {}
    for option, path in (
        ("INPUT", s.input),
        ("--output", s.output),
        ("--errors", s.errors),
        ("--metrics-file", s.metrics_file),
        ("--log-file", s.log_file),
    ):
        if not path or path == "-":
            continue
        try:
            info = os.stat(path)
            identity: object = (info.st_dev, info.st_ino)
        except OSError:
            identity = os.path.realpath(path)
        if identity in seen:
            other, other_path = seen[identity]
            raise ConfigError(
                f"{option} {path!r} is the same file as {other} {other_path!r}; choose another name"
            )
        seen[identity] = (option, path)


def check_side_files(job: Job, s: Settings) -> None:
    """Every file the run writes must be out of other users' reach (`check_output_path`:
    a link of theirs, a folder they can write). The errors and metrics files are replaced
    whole when the run ends: one named by mistake like a file of tokens (or an input, for
    metrics) is refused, untouched."""
    for option, path in (
        ("--output", s.output),
        ("--errors", s.errors),
        ("--metrics-file", s.metrics_file),
        ("--log-file", s.log_file),
    ):
        if path and path != "-":
            check_output_path(path, option)
    for option, path in (("--errors", s.errors), ("--metrics-file", s.metrics_file)):
        folder = os.path.dirname(path) if path else ""
        if folder and not os.path.isdir(folder):
            # Written at the end: found now, before a token is issued that it should count.
            raise ConfigError(
                f"{option} {path!r}: the folder {folder!r} does not exist (nothing was done)"
            )
        if path and os.path.exists(path) and not os.path.isfile(path):
            raise ConfigError(
                f"{option} {path!r} is not a regular file: it is replaced whole when the run "
                "ends (a rename over a device such as /dev/null would replace the device); "
                "leave the option out, or name a file"
            )
    # The secrets of the job whose records this one ends too: its results file is this
    # job's input, and a mistyped --errors must not replace it.
    secrets = job.secret_fields | (job.ends.secret_fields if job.ends else frozenset())
    if s.errors and holds_secrets(s.errors, secrets):
        raise ConfigError(
            f"--errors {s.errors!r} holds records with tokens (a results file?) and would be "
            "replaced by the errors of this run; choose another name (nothing was changed)"
        )
    if s.metrics_file and foreign_to_metrics(s.metrics_file):
        raise ConfigError(
            f"--metrics-file {s.metrics_file!r} holds something else than metrics and would be "
            "replaced by them; choose another name (nothing was changed)"
        )


def check_keep_columns(job: Job, names: tuple[str, ...]) -> None:
    """--keep-columns may not name a column the records already have (a CSV results
    file would have it twice, and the errors file would no longer be valid input)."""
    fixed = [job.key_name, "status", *job.fields, "attempts", "line"]
    fixed += [f"error_{name}" for name in error_fields(job.request_id_field)]
    for name in names:
        if name in fixed:
            raise ConfigError(
                f"--keep-columns: {name!r} is a column of the records already; "
                "name other input columns"
            )


def refuse_secrets_on_terminal(job: Job) -> None:
    """The results hold secrets: printed on a terminal they stay in its scrollback (and on
    a shared screen). Without -o, a terminal on standard output is refused before any call;
    ``-o -`` says the user wants them there."""
    if sys.stdout.isatty():
        secrets = ", ".join(sorted(job.secret_fields))
        raise ConfigError(
            f"the records hold secrets ({secrets}) and would be printed on the screen: "
            "pass -o FILE, or -o - to force"
        )
