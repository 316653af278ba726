"""A destructive job asks before its first call: one question on the terminal.

A job that cannot be undone (`Job.confirmation`) names what it is about to do: how many
IDs it would send (the input counted as --dry-run counts it, minus what --resume keeps and
beyond --limit) and the API. ``y`` or ``yes`` goes on; anything else, or the end of input,
stops the run before any call (exit 2). --yes, --dry-run and --simulate (nothing real is
changed) do not ask; without a terminal the run needs --yes (`_checks.check_settings`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Container

import anyio

from batch.cli._checks import can_ask
from batch.cli._console import human_duration, plural
from batch.cli._context import Run
from batch.cli._dry_run import estimate_seconds, planned_rate
from batch.cli._signals import Interrupts
from batch.cli._startup import open_input
from batch.engine import ConfigError, QuietLogger, Stats
from batch.input import RowItems

__all__ = ["ask", "confirm_destructive"]

_YES = (b"y", b"yes")


async def confirm_destructive(
    run: Run, base_url: str | None, still_ok: Container[str], interrupts: Interrupts
) -> None:
    """Ask, if the job is destructive and a person can answer; ConfigError unless they say
    yes. A signal meanwhile stops the run before any call (`Interrupts.before_any_call`)."""
    job, s = run.job, run.settings
    if job.confirmation is None or s.yes or s.dry_run or s.simulate or not can_ask(s):
        return
    count = await interrupts.before_any_call(lambda: _count(run, still_ok))
    if count == 0:
        return  # nothing would be sent: nothing to ask about
    took = human_duration(estimate_seconds(count, planned_rate(job, s.rate)))
    question = job.confirmation.format(ids=plural(count, "ID"), api=base_url or "")
    if not await interrupts.before_any_call(lambda: ask(f"{question} (about {took}) [y/N] ")):
        raise ConfigError(f"{job.name} not confirmed: nothing was done")


async def _count(run: Run, still_ok: Container[str]) -> int:
    """The IDs the run would send: the input read once more, apart from the run's own read."""
    job, s = run.job, run.settings
    with contextlib.ExitStack() as closing:
        rows = await open_input(job, s, closing, QuietLogger())
        items = RowItems(rows, job, stats=Stats(), log=QuietLogger(), skip_keys=still_ok)
        count = await items.count_rest(lambda _invalid_row: None) or 0
    return count if s.limit is None else min(count, s.limit)


async def ask(question: str) -> bool:
    """Ask on standard error, read one line of the terminal on standard input: yes or not.
    Read on the event loop (no thread stays blocked on the terminal after a Ctrl-C)."""
    sys.stderr.write(question)
    sys.stderr.flush()
    fd = sys.stdin.fileno()
    await anyio.wait_readable(fd)
    answer = os.read(fd, 1024)
    if not answer.endswith(b"\n"):
        sys.stderr.write("\n")  # the end of input (Ctrl-D): the next line starts a line
    return answer.strip().lower() in _YES
