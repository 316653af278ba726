"""Progress for people and machines: a rich bar on a terminal, `progress` events and a metrics file."""

from __future__ import annotations

import os
import stat
import sys
import time
from typing import TYPE_CHECKING, TextIO

import anyio
import anyio.to_thread

from batch.cli._bar import Snapshot
from batch.cli._metrics import write_metrics
from batch.cli._settings import Settings
from batch.engine import Logger, Stats

if TYPE_CHECKING:
    from rich.progress import Progress, Task

__all__ = ["Reporter", "shows_bar"]


def shows_bar(settings: Settings, human: TextIO | None) -> bool:
    """Whether the run draws a live bar: on a terminal, unless told not to, and never
    where the records may reach the same screen (the bar's redraws would cut into them)."""
    return (
        human is not None
        and human.isatty()
        and not (settings.no_progress or settings.quiet)
        and not (settings.output == "-" and _may_reach_a_screen(sys.stdout))
    )


def _may_reach_a_screen(stream: TextIO) -> bool:
    """Whether what is written to ``stream`` may be shown on a terminal: a terminal, or a
    pipe or socket (``| head``, ``| jq``: its reader prints where it likes). Only a file
    (``> out.jsonl``, ``/dev/null``) is known to keep it off the screen."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):  # no descriptor at all (a test's capture): not a screen
        return False
    return not (stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd)))


class Reporter:
    """Ticks every ``interval`` seconds: a progress event (or the bar) and the metrics file."""

    def __init__(
        self, stats: Stats, log: Logger, settings: Settings, *, bar: bool, total: int | None
    ) -> None:
        self.stats = stats
        self._log = log
        self._interval = settings.progress_interval
        # With a bar, the events go only to a log file (the bar says the same on screen).
        self._events = not bar or settings.log_file is not None
        self._total = total
        self._metrics_file = settings.metrics_file
        self._last = (time.monotonic(), 0)
        self._last_rate = 0.0  # requests per second over the last second or more
        self._progress: Progress | None = None
        if bar:
            # Imported only when shown: rich and prometheus_client cost start-up time
            # and memory that a cron run without them does not need to pay.
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import Progress  # noqa: PLC0415

            from batch.cli._live_bar import LineColumn  # noqa: PLC0415 - it imports rich

            self._progress = Progress(
                LineColumn(self._snapshot),
                console=Console(file=sys.stderr),
                redirect_stderr=True,
                redirect_stdout=False,
                # Gone when the run ends: the summary says the final counts, and a bar left
                # behind would show a spinner and an ETA that are no longer true.
                transient=True,
            )
            self._task = self._progress.add_task("rows", total=total)

    async def run(self) -> None:
        """Tick until cancelled."""
        if self._progress is not None:
            with self._progress:
                try:
                    next_metrics = time.monotonic() + self._interval
                    while True:
                        self._refresh_bar()
                        await anyio.sleep(0.2)
                        if time.monotonic() >= next_metrics:  # monitoring sees a terminal run too
                            next_metrics += self._interval
                            if self._events:  # --log-file: the bar here, the events there
                                self.tick()
                            else:
                                self.write_metrics(elapsed_s=None, exit_code=None)
                finally:
                    self._refresh_bar()
        else:
            while True:
                await anyio.sleep(self._interval)
                self.tick()

    def _refresh_bar(self) -> None:
        assert self._progress is not None
        self._rate()  # the rate the bar shows, refreshed once a second
        self._progress.update(self._task, completed=self.stats.rows_done())

    def _snapshot(self, task: Task) -> Snapshot:
        """What the bar shows now (rich asks at each refresh, from its own thread)."""
        stats = self.stats
        return Snapshot(
            done=stats.rows_done(),  # as it is now, like the counts beside it
            total=None if task.total is None else int(task.total),
            ok=stats.ok,
            failed=stats.failed,
            invalid=stats.invalid,
            retries=stats.retries,
            rate_limited=stats.rate_limited,
            rate=self._last_rate,
            elapsed_s=task.elapsed,
            eta_s=task.time_remaining,
        )

    def _rate(self) -> float:
        elapsed = time.monotonic() - self._last[0]
        if elapsed < 1.0:
            return self._last_rate
        self._last_rate = (self.stats.requests - self._last[1]) / elapsed
        self._last = (time.monotonic(), self.stats.requests)
        return self._last_rate

    def tick(self) -> None:
        stats = self.stats
        done = stats.rows_done()
        rate = self._rate()
        event: dict[str, object] = {
            "done": done,
            "total": self._total,
            "ok": stats.ok,
            "failed": stats.failed,
            "invalid": stats.invalid,
            "duplicates": stats.duplicates,
            "skipped": stats.skipped,
            "requests": stats.requests,
            "retries": stats.retries,
            "rate_limited": stats.rate_limited,
            "rate": round(rate, 2),
        }
        if self._total is not None and rate > 0:
            event["eta_s"] = round(max(self._total - done, 0) / rate, 1)
        self._log.info("progress", **event)
        self.write_metrics(elapsed_s=None, exit_code=None)

    def write_metrics(self, *, elapsed_s: float | None, exit_code: int | None) -> None:
        if self._metrics_file:
            write_metrics(
                self._metrics_file,
                self.stats,
                elapsed_s=elapsed_s,
                exit_code=exit_code,
                log=self._log,
            )
