"""The steps of a command-line run, each alone: the options as declared, the settings
checked together, the signal window of the start, the outputs opened and closed.

The end-to-end tests (test_end_to_end, test_durability, test_wait_signal) run the same
steps through the whole program; these pin each step's own promise.
"""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import click
import pytest

from batch.cli._checks import check_settings, check_side_files
from batch.cli._command import job_command
from batch.cli._context import Run
from batch.cli._declare import OPTION, argument, option, parameters
from batch.cli._logging import Redactor
from batch.cli._outcome import DryRunReport, Forecast
from batch.cli._settings import Settings
from batch.cli._signals import Interrupts, StoppedAtStart
from batch.cli._startup import open_outputs
from batch.engine import ConfigError, InputError, Job
from batch.output import origin_of
from jobs import REVOKE_TOKENS, WORKER_TOKENS
from tests.helpers import ENV, new_ids, run_cli

pytestmark = pytest.mark.anyio

JOB: Job = WORKER_TOKENS


def settings_for(*args: str) -> Settings:
    """The settings the real command makes of ``args``."""
    made: list[Settings] = []

    def run(_job: Job, settings: Settings) -> int:
        made.append(settings)
        return 0

    with pytest.raises(SystemExit):
        job_command(JOB, run).main(list(args), standalone_mode=False)
    (settings,) = made
    return settings


# -- one declaration per option ---------------------------------------------------------


@pytest.mark.parametrize("job", [WORKER_TOKENS, REVOKE_TOKENS], ids=lambda job: job.name)
def test_every_setting_but_one_is_an_option_and_the_command_has_no_other(job: Job) -> None:
    declared = [
        f.name
        for f in fields(Settings)
        if OPTION in f.metadata and f.metadata[OPTION].shown_for(job)
    ]
    assert [f.name for f in fields(Settings) if OPTION not in f.metadata] == ["output_given"]
    command = job_command(job, lambda _job, _s: 0)
    assert [p.name for p in command.params] == declared


def test_a_job_s_own_options_are_on_its_command_only() -> None:
    """--yes is a destructive job's; --refresh-within a job whose records expire."""
    tokens = {p.name for p in job_command(WORKER_TOKENS, lambda _job, _s: 0).params}
    revoke = {p.name for p in job_command(REVOKE_TOKENS, lambda _job, _s: 0).params}
    assert tokens - revoke == {"refresh_within"}
    assert revoke - tokens == {"yes"}
    assert settings_for("in.csv").yes is False  # the field's default, for the others


def test_the_defaults_are_the_declared_ones_with_the_jobs_words() -> None:
    s = settings_for("in.csv")
    assert (s.input, s.id_field, s.output, s.rate, s.concurrency) == (
        "in.csv",
        JOB.key_name,  # "{job.key_name}"
        "-",
        5.0,
        8,
    )
    assert (s.keep_columns, s.refresh_within, s.quota_store, s.output_given) == (
        (),
        None,
        "local",
        False,
    )
    assert settings_for("in.csv", "-o", "-").output_given


def test_a_new_setting_is_one_field() -> None:
    """What adding an option takes: a field with its option; the words are filled in."""

    @dataclass(frozen=True)
    class Toy:
        path: str = field(metadata=argument("PATH"))
        max_retry_after: float = field(metadata=option(
            "--max-retry-after",
            type=click.FloatRange(min=0),
            default=60.0,
            metavar="SECONDS",
            help="Honour a Retry-After of {job.name} up to this long.",
        ))  # fmt: skip
        not_an_option: bool = True

    argument_, option_ = parameters(Toy, {"job": JOB}, JOB)
    assert isinstance(option_, click.Option)
    assert (argument_.name, option_.name, option_.opts) == (
        "path",
        "max_retry_after",
        ["--max-retry-after"],
    )
    assert (option_.default, option_.show_default, option_.metavar) == (60.0, True, "SECONDS")
    assert option_.help == "Honour a Retry-After of worker-tokens up to this long."


# -- the settings checked together ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume"], "--resume needs -o/--output to be a file"),
        (["-o", "x.jsonl", "--overwrite", "--resume"], "contradict each other"),
        (["--overwrite"], "--overwrite needs -o/--output to be a file"),
        (["-o", "x.jsonl", "--keep-history"], "--keep-history works with --resume"),
        (["-o", "x.jsonl", "--refresh-within", "2h"], "--refresh-within works with --resume"),
        (["-o", "x.jsonl", "--keep-columns", "status"], "is a column of the records already"),
    ],
)
def test_settings_that_cannot_go_together_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_settings(JOB, settings_for("in.csv", *args))


def test_settings_that_go_together_pass() -> None:
    check_settings(JOB, settings_for("in.csv", "-o", "x.jsonl", "--resume", "--keep-history"))


# -- the signal window of the start ------------------------------------------------------


class Events:
    """A logger that keeps (level, event, fields), and may act on an event."""

    def __init__(self, on: dict[str, Callable[[], object]] | None = None) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []
        self._on = on or {}

    def _log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.seen.append((level, event, fields))
        if event in self._on:
            self._on[event]()

    def debug(self, event: str, /, **fields: Any) -> None:
        self._log("debug", event, fields)

    def info(self, event: str, /, **fields: Any) -> None:
        self._log("info", event, fields)

    def warning(self, event: str, /, **fields: Any) -> None:
        self._log("warning", event, fields)

    def error(self, event: str, /, **fields: Any) -> None:
        self._log("error", event, fields)

    def names(self) -> list[str]:
        return [event for _, event, _ in self.seen]


async def test_a_step_that_completes_gives_its_value() -> None:
    interrupts = Interrupts(Events(), 5.0, [])

    async def step() -> str:
        await anyio.lowlevel.checkpoint()
        return "rows"

    assert await interrupts.before_any_call(step) == "rows"


@pytest.mark.parametrize("metrics", [True, False])
async def test_a_signal_noted_before_the_step_cuts_it(metrics: bool) -> None:
    interrupts = Interrupts(Events(), 5.0, [signal.SIGTERM])
    reached = []

    async def step() -> str:
        await anyio.lowlevel.checkpoint()
        reached.append("after the first checkpoint")
        return "rows"

    with pytest.raises(StoppedAtStart) as stopped:
        await interrupts.before_any_call(step, write_metrics_if_cut=metrics)
    assert stopped.value.write_metrics is metrics
    assert reached == []
    assert interrupts.exit_code == 143


async def test_a_step_done_as_the_signal_came_still_stops_the_run_with_metrics() -> None:
    received: list[signal.Signals] = []
    interrupts = Interrupts(Events(), 5.0, received)

    async def step() -> str:
        received.append(signal.SIGINT)  # noted, no checkpoint left to cut
        return "outputs"

    with pytest.raises(StoppedAtStart) as stopped:
        await interrupts.before_any_call(step, write_metrics_if_cut=False)
    assert stopped.value.write_metrics is True  # the step ended: the run owns its metrics


async def test_a_signal_wins_over_the_error_it_caused() -> None:
    received: list[signal.Signals] = []
    interrupts = Interrupts(Events(), 5.0, received)

    async def step() -> str:
        received.append(signal.SIGTERM)  # the feeding process was stopped too...
        raise InputError("no data rows in standard input")  # ... so the input ended

    with pytest.raises(StoppedAtStart):
        await interrupts.before_any_call(step)


async def test_without_a_signal_the_steps_error_is_the_users() -> None:
    interrupts = Interrupts(Events(), 5.0, [])

    async def step() -> str:
        raise InputError("no data rows in 'in.csv'")

    with pytest.raises(InputError, match="no data rows"):
        await interrupts.before_any_call(step)


# -- the outputs ------------------------------------------------------------------------


def _run(s: Settings, log: Events) -> Run:
    return Run(JOB, s, log, Redactor())


def _origin() -> str:
    return origin_of(JOB.default_base_url, "org-token-steps")


async def test_the_outputs_read_what_resume_keeps_and_close_the_files(tmp_path: Path) -> None:
    done, failed, kept_error = new_ids(3)
    out = tmp_path / "out.jsonl"
    origin = _origin()
    out.write_text(
        f'{{"profile_id": "{done}", "status": "ok", "token": "wt_x", '
        f'"expires_at": "2099-01-01T00:00:00Z", "attempts": 1, "line": 2, "origin": "{origin}"}}\n'
        f'{{"profile_id": "{failed}", "status": "error", "attempts": 5, "line": 3, '
        f'"origin": "{origin}", "error": {{"kind": "http", "http_status": 500, '
        f'"message": "x", "api_req_id": null}}}}\n'
    )
    out.chmod(0o600)
    errors = tmp_path / "errors.csv"
    errors.write_text(f"profile_id\n{kept_error}\n")  # the previous run's errors
    log = Events()
    s = settings_for("in.csv", "-o", str(out), "--resume", "--errors", str(errors))
    async with open_outputs(_run(s, log), origin, Interrupts(log, 5.0, [])) as outputs:
        assert outputs.still_ok.kept() == {done}  # not sent again; the failed one is redone
        assert outputs.results.path == str(out)
    # not committed (no run finished): the previous errors file is left as it was
    assert errors.read_text() == f"profile_id\n{kept_error}\n"
    # and the results file's lock is free again
    with out.open("ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


async def test_a_signal_during_the_wait_for_the_lock_leaves_the_metrics_alone(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    log = Events(on={"waiting_for_lock": lambda: os.kill(os.getpid(), signal.SIGTERM)})
    s = settings_for("in.csv", "-o", str(out), "--wait", "600")
    interrupts = Interrupts(log, 5.0, [])
    with out.open("ab") as held:  # another run holds the results file
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        async with anyio.create_task_group() as tg:
            await tg.start(interrupts.watch)
            with anyio.fail_after(30), pytest.raises(StoppedAtStart) as stopped:
                async with open_outputs(_run(s, log), _origin(), interrupts):
                    pytest.fail("the outputs must not open")
            tg.cancel_scope.cancel()
    assert stopped.value.write_metrics is False  # the run at work owns the metrics file
    assert interrupts.exit_code == 143
    assert log.names() == ["waiting_for_lock"]


# -- the dry-run report -----------------------------------------------------------------


def test_the_dry_run_event_keeps_its_fields() -> None:
    report = DryRunReport(
        understood={"format": "csv", "id_column": "profile_id"},
        rows=5,
        blank=1,
        valid=4,
        already_ok=1,
        invalid=1,
        duplicates=0,
        would_send=3,
        estimated_s=0.4,
        estimated_rate=5.0,
        first_invalid=[(4, "not a UUID")],
        limit=3,
        beyond_limit=0,
        forecast=Forecast("no", 1, 4),
        quota_store="local",
        quota_runs=None,
    )
    assert report.as_event() == {
        "format": "csv",
        "id_column": "profile_id",
        "rows": 5,
        "blank": 1,
        "valid": 4,
        "kept": 1,
        "invalid": 1,
        "duplicates": 0,
        "would_send": 3,
        "estimated_s": 0.4,
        "estimated_rate": 5.0,
        "first_invalid": [{"line": 4, "reason": "not a UUID"}],
        "limit": 3,
        "beyond_limit": 0,
        "compaction": "no",
        "superseded_after": 1,
        "current_after": 4,
        "quota_store": "local",
        "quota_runs": None,
        "reserve": 0.0,
    }


# -- a usage error is one line --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["worker-tokens", "in.csv", "--bogus"], "No such option '--bogus'"),
        (["worker-tokens", "in.csv", "--rate", "0"], "Invalid value for '--rate'"),
        (["revoke-tokens", "in.csv", "--api-version", "banana"], "'banana' is not an API version"),
        (["worker-tokens"], "Missing argument 'INPUT'"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
    ],
)
def test_a_usage_error_is_one_line_with_where_the_options_are(args: list[str], says: str) -> None:
    res = run_cli(*args, env=ENV)  # no terminal: the one line is a JSON event
    assert res.exit_code == 2
    assert len(res.stderr.splitlines()) == 1
    (event,) = res.events
    assert (event["event"], event["exit_code"]) == ("usage_error", 2)
    assert says in event["message"]
    assert event["message"].endswith(" --help)")


def test_giving_nothing_still_shows_the_help() -> None:
    res = run_cli()
    assert res.exit_code == 2
    assert res.stderr.startswith("Usage: ")  # the runner names the program "main"
    assert "worker-tokens" in res.stderr


@pytest.mark.parametrize("option", ["--errors", "--metrics-file"])
def test_a_file_written_at_the_end_into_a_missing_folder_is_refused_first(
    option: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "missing" / "f.csv")
    with pytest.raises(ConfigError, match=r"the folder .* does not exist \(nothing was done\)"):
        check_side_files(JOB, settings_for("in.csv", option, path))
