"""`Run`: one command-line run of a job, as each step of it sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from batch.cli._logging import Redactor
from batch.cli._settings import Settings
from batch.engine import Job, Logger, Stats

__all__ = ["Run"]


@dataclass(frozen=True, slots=True)
class Run:
    """The job, its settings, where it logs, and its counts: what every step reads."""

    job: Job
    settings: Settings
    log: Logger
    #: the secrets kept out of every log line (the token joins it once read)
    redactor: Redactor
    #: a live progress bar (on a terminal) instead of progress events
    progress_bar: bool = False
    stats: Stats = field(default_factory=Stats)
