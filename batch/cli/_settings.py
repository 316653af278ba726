"""What the command line was asked to do, checked before any call."""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass
from datetime import timedelta

from batch.cli._metrics import foreign_to_metrics
from batch.engine import (
    ConfigError,
    Job,
    check_base_url,
    error_fields,
    is_loopback,
    token_problem,
)
from batch.output import holds_secrets

__all__ = [
    "Settings",
    "check_base_url",
    "check_distinct",
    "check_keep_columns",
    "check_side_files",
    "is_loopback",
    "parse_duration",
    "read_token",
    "refuse_secrets_on_terminal",
    "token_problem",
]

MAX_DURATION_S = 366 * 24 * 3600
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")


@dataclass(frozen=True, slots=True)
class Settings:
    input: str
    input_format: str | None
    id_field: str
    output: str
    errors: str | None
    rate: float
    concurrency: int
    max_attempts: int
    timeout: float
    base_url: str | None
    token_file: str | None
    resume: bool
    dry_run: bool
    simulate: bool
    backoff_base: float
    backoff_cap: float
    give_up_after: float
    grace: float
    log_format: str
    log_level: str
    log_file: str | None
    no_progress: bool
    progress_interval: float
    metrics_file: str | None
    refresh_within: timedelta | None
    overwrite: bool = False
    wait: float = 0.0
    proxy: str | None = None
    no_proxy: bool = False
    keep_history: bool = False
    #: input columns carried into the records (--keep-columns)
    keep_columns: tuple[str, ...] = ()
    #: process only the first N valid IDs (--limit)
    limit: int | None = None
    quiet: bool = False
    #: whether -o was given (the default "-" is refused on a terminal: tokens on screen)
    output_given: bool = True
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    #: the line (row) holding the column names (--header-row); None: found
    header_row: int | None = None
    quota_store: str = "local"


def parse_duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1h30m``, ``45s``, ``1d``; a bare number is minutes. At most a year."""
    value = text.strip().lower()
    too_long = ValueError(f"{text!r} is too long: at most a year (366d)")
    if len(value) > 40:
        raise (
            too_long
            if re.fullmatch(r"[0-9dhms]+", value)
            else ValueError(f"{text!r} is not a duration (examples: 90m, 2h, 1h30m)")
        )
    if value.isascii() and value.isdigit():
        seconds = int(value) * 60
    else:
        match = _DURATION.fullmatch(value)
        if not value or match is None or not any(match.groups()):
            raise ValueError(f"{text!r} is not a duration (examples: 90m, 2h, 1h30m)")
        days, hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds > MAX_DURATION_S:
        raise too_long
    return timedelta(seconds=seconds)


def read_token(env_name: str, token_file: str | None, warn: list[str]) -> str:
    """The API token from ``token_file`` or the environment; never from argv."""
    if token_file:
        try:
            mode = os.stat(token_file).st_mode
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --token-file {token_file!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--token-file {token_file!r} is not UTF-8 text") from None
        if mode & 0o077:
            warn.append(
                f"--token-file {token_file!r} is readable by others "
                f"(mode {oct(stat.S_IMODE(mode))}); run: chmod 600 {token_file}"
            )
        where = f"--token-file {token_file!r}"
    else:
        token = os.environ.get(env_name, "").strip()
        where = env_name
    if not token and token_file:
        raise ConfigError(f"--token-file {token_file!r} is empty: it must hold the API token")
    if not token:
        raise ConfigError(
            f"no API token: set {env_name} or pass --token-file PATH "
            "(use --simulate or --dry-run to run without one)"
        )
    problem = token_problem(token)
    if problem:
        raise ConfigError(f"the token in {where} {problem}")
    return token


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
    """The errors and metrics files are replaced whole when the run ends: one named by
    mistake like a file of tokens (or an input, for metrics) is refused, untouched."""
    for option, path in (("--errors", s.errors), ("--metrics-file", s.metrics_file)):
        if path and os.path.exists(path) and not os.path.isfile(path):
            raise ConfigError(
                f"{option} {path!r} is not a regular file: it is replaced whole when the run "
                "ends (a rename over a device such as /dev/null would replace the device); "
                "leave the option out, or name a file"
            )
    if s.errors and holds_secrets(s.errors, job.secret_fields):
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
