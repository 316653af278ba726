"""What the command line was asked to do: each setting declared once, with its option.

A setting is a field of `Settings`; the field's metadata holds its command-line form
(`batch.cli._declare`: name, type, default, help, check). `batch.cli._command` builds
each job's command from these fields, in their order, and the run reads
``settings.<name>`` where the option acts. So a new option is one field here, plus the
code that uses it (and its line in docs/options.md). An option only some jobs have says
which with ``only`` (`batch.cli._declare`), and its field has a default for the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import click

from batch.cli import _values as values
from batch.cli._declare import argument, option
from batch.engine import Job
from batch.input import FORMATS

__all__ = ["Settings"]


def _destructive(job: Job) -> bool:
    return job.confirmation is not None


def _expires(job: Job) -> bool:
    return job.expiry_field is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The settings of one run of a job, in the order --help shows their options."""

    input: str = field(metadata=argument("INPUT"))
    input_format: str | None = field(metadata=option(
        "--input-format",
        type=click.Choice(list(FORMATS)),
        help="Override the guess from the file name (and from the content).",
    ))  # fmt: skip
    id_field: str = field(metadata=option(
        "--id-field",
        default="{job.key_name}",
        metavar="NAME",
        help="The column (CSV, TSV, a sheet) or key (JSON, JSONL) holding the ID.",
    ))  # fmt: skip
    output: str = field(metadata=option(
        "-o",
        "--output",
        default="-",
        metavar="PATH",
        help="Results file; .csv → CSV, else JSONL; - is standard output.",
    ))  # fmt: skip
    errors: str | None = field(metadata=option(
        "--errors",
        metavar="PATH",
        help="Also write each failed record there: CSV for a .csv name, else JSONL "
        "(valid INPUT for a re-run).",
    ))  # fmt: skip
    rate: float = field(metadata=option(
        "--rate",
        type=values.POSITIVE,
        metavar="N",
        default=5.0,
        help="Requests per second, never more in any rolling 1-second window.",
    ))  # fmt: skip
    reserve: float = field(metadata=option(
        "--reserve",
        type=click.FloatRange(min=0),
        metavar="N",
        default=0.0,
        help="Requests per second of the API's documented limit kept free for the account's "
        "other integrations: the run never goes above the limit less N.",
    ))  # fmt: skip
    concurrency: int = field(metadata=option(
        "--concurrency",
        metavar="N",
        type=click.IntRange(min=1, max=1000),
        default=8,
        help="Requests in flight at most.",
    ))  # fmt: skip
    max_attempts: int = field(metadata=option(
        "--max-attempts",
        metavar="N",
        type=click.IntRange(min=1, max=100),
        default=5,
        help="Attempts per ID, the first included.",
    ))  # fmt: skip
    timeout: float = field(metadata=option(
        "--timeout", type=values.POSITIVE, default=30.0, metavar="SECONDS", help="Per attempt."
    ))  # fmt: skip
    base_url: str | None = field(metadata=option(
        "--base-url",
        envvar="{job.base_url_env}",
        metavar="URL",
        help="API root (env {job.base_url_env}; default {job.default_base_url}).",
    ))  # fmt: skip
    token_file: str | None = field(metadata=option(
        "--token-file",
        metavar="PATH",
        help="Read the API token from this file instead of {job.token_env}.",
    ))  # fmt: skip
    api_version: str = field(metadata=option(
        "--api-version",
        envvar="{job.api_version_env}",
        default="{job.api_version}",
        callback=values.api_version,
        metavar="DATE",
        help="The API version every request asks for (env {job.api_version_env}); the "
        "default is the version this job is written against.",
    ))  # fmt: skip
    resume: bool = field(metadata=option(
        "--resume",
        flag=True,
        help="Needs --output to be a file: keep its ok records, redo the rest, append.",
    ))  # fmt: skip
    dry_run: bool = field(metadata=option(
        "--dry-run", flag=True, help="Read and validate the input, report, call nothing."
    ))  # fmt: skip
    simulate: bool = field(metadata=option(
        "--simulate", flag=True, help="Run against the built-in simulated API (no token needed)."
    ))  # fmt: skip
    #: a destructive job's run goes on without asking (needed when there is no terminal)
    yes: bool = field(default=False, metadata=option(
        "--yes",
        flag=True,
        only=_destructive,
        help="Do not ask before the first call (without a terminal, the run needs it).",
    ))  # fmt: skip
    backoff_base: float = field(metadata=option(
        "--backoff-base",
        type=values.POSITIVE,
        default=0.5,
        metavar="SECONDS",
        help="Backoff ceiling after the first failed attempt; doubles each retry (full jitter).",
    ))  # fmt: skip
    backoff_cap: float = field(metadata=option(
        "--backoff-cap",
        type=values.POSITIVE,
        default=30.0,
        metavar="SECONDS",
        help="Longest wait between attempts (a server's Retry-After is honoured up to 60 s).",
    ))  # fmt: skip
    give_up_after: float = field(metadata=option(
        "--give-up-after",
        type=click.FloatRange(min=0),
        default=60.0,
        metavar="SECONDS",
        help="Stop (exit 3) when only transient failures came back for this long; 0 never.",
    ))  # fmt: skip
    grace: float = field(metadata=option(
        "--grace",
        type=click.FloatRange(min=0),
        default=5.0,
        metavar="SECONDS",
        help="On Ctrl-C/SIGTERM, how long requests in flight may finish.",
    ))  # fmt: skip
    log_format: str = field(metadata=option(
        "--log-format",
        type=click.Choice(["auto", "json", "console"]),
        default="auto",
        help="auto: console on a terminal, JSON lines otherwise.",
    ))  # fmt: skip
    log_level: str = field(metadata=option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        default="info",
        help="The least severe events shown.",
    ))  # fmt: skip
    log_file: str | None = field(metadata=option(
        "--log-file", metavar="PATH", help="Logs there instead of standard error."
    ))  # fmt: skip
    no_progress: bool = field(metadata=option(
        "--no-progress", flag=True, help="No progress bar even on a terminal."
    ))  # fmt: skip
    progress_interval: float = field(metadata=option(
        "--progress-interval",
        type=values.POSITIVE,
        default=30.0,
        metavar="SECONDS",
        help="A progress log event this often when not on a terminal.",
    ))  # fmt: skip
    metrics_file: str | None = field(metadata=option(
        "--metrics-file",
        metavar="PATH",
        help="Prometheus text file for node_exporter, replaced atomically.",
    ))  # fmt: skip
    refresh_within: timedelta | None = field(default=None, metadata=option(
        "--refresh-within",
        only=_expires,
        callback=values.duration,
        metavar="DURATION",
        help="With --resume: also redo the ok records whose {job.expiry_field} is within "
        "DURATION (90m, 2h) or past.",
    ))  # fmt: skip
    overwrite: bool = field(metadata=option(
        "--overwrite",
        flag=True,
        help="Start a results file that holds records over; they are kept in PATH.prev "
        "until the new run finishes.",
    ))  # fmt: skip
    wait: float = field(metadata=option(
        "--wait",
        type=click.FloatRange(min=0),
        default=0.0,
        metavar="SECONDS",
        help="When another run holds the results file, wait this long for it (else exit 75).",
    ))  # fmt: skip
    proxy: str | None = field(metadata=option(
        "--proxy",
        callback=values.proxy,
        metavar="URL",
        help="Forward proxy, http://[USER:PASSWORD@]HOST:PORT ('' goes direct); without it "
        "HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read as curl does (loopback goes direct). "
        "Credentials are safer in HTTPS_PROXY than here, where ps shows them.",
    ))  # fmt: skip
    no_proxy: bool = field(metadata=option(
        "--no-proxy",
        flag=True,
        callback=values.no_proxy,
        help="Connect directly, whatever any proxy variable (HTTPS_PROXY, HTTP_PROXY, "
        "ALL_PROXY) says.",
    ))  # fmt: skip
    keep_history: bool = field(metadata=option(
        "--keep-history",
        flag=True,
        help="With --resume: append only, never rewrite the results file to its current state.",
    ))  # fmt: skip
    #: input columns carried into the records
    keep_columns: tuple[str, ...] = field(metadata=option(
        "--keep-columns",
        callback=values.column_names,
        metavar="A,B",
        help="Carry these input columns into the results and errors records (never into logs).",
    ))  # fmt: skip
    #: process only the first N valid IDs
    limit: int | None = field(metadata=option(
        "--limit",
        type=click.IntRange(min=1),
        metavar="N",
        help="Process only the first N valid IDs (a canary); the rest is left for --resume.",
    ))  # fmt: skip
    quiet: bool = field(metadata=option(
        "--quiet", flag=True, help="Print only errors and the one-line summary."
    ))  # fmt: skip
    delimiter: str | None = field(metadata=option(
        "--delimiter",
        callback=values.delimiter,
        metavar="CHAR",
        help="CSV field separator (tab: 'tab' or '\\t'); default: from the header (, ; tab |).",
    ))  # fmt: skip
    encoding: str | None = field(metadata=option(
        "--encoding",
        metavar="NAME",
        help="Input text encoding (e.g. cp1252); default: a BOM's, UTF-8, else detected "
        "(refused when it cannot be told).",
    ))  # fmt: skip
    sheet: str | None = field(metadata=option(
        "--sheet",
        metavar="NAME",
        help="The sheet of an .xlsx/.xlsm/.ods workbook, hidden ones included (default: the "
        "active sheet if visible, else the first visible one).",
    ))  # fmt: skip
    header_row: int | None = field(metadata=option(
        "--header-row",
        type=click.IntRange(min=1),
        metavar="N",
        help="The line (a workbook's row) holding the column names (default: the first of the "
        "first 20 that holds the ID column).",
    ))  # fmt: skip
    quota_store: str = field(metadata=option(
        "--quota-store",
        envvar="{env_prefix}_QUOTA_STORE",
        default="local",
        callback=values.quota_store,
        metavar="local|none|DIR|redis://HOST:PORT/DB",
        help="Where the API's rolling-window quota is shared with other runs: local (this "
        "user on this host, same token and base URL), an absolute directory (every user of "
        "its group), redis://… (any host using that Redis), none (this run alone). "
        "Env {env_prefix}_QUOTA_STORE.",
    ))  # fmt: skip
    #: whether -o was given (the default "-" is refused on a terminal: tokens on screen)
    output_given: bool = True
