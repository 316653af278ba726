"""The rich column that draws the progress bar's line, as `batch.cli._bar.fit` lays it out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.progress import ProgressColumn, Task
from rich.spinner import Spinner
from rich.text import Text

from batch.cli._bar import Snapshot, fit

__all__ = ["LineColumn"]


class LineColumn(ProgressColumn):
    """The whole bar as one rich column, `fit` to the terminal's width at each refresh."""

    def __init__(self, counts: Callable[[Task], Snapshot]) -> None:
        super().__init__()
        self._counts = counts
        self._spinner = Spinner("dots")

    def render(self, task: Task) -> _Line:
        spinner = self._spinner
        frame = spinner.frames[int(task.get_time() * 1000 / spinner.interval) % len(spinner.frames)]
        return _Line(self._counts(task), frame, task.finished)


class _Line:
    """One snapshot, drawn at whatever width the console offers."""

    def __init__(self, snap: Snapshot, spinner: str, finished: bool) -> None:
        self._snap = dataclasses.replace(snap, spinner=spinner)
        self._finished = finished

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        # Exactly the fitted line: a cell padded to the full width would put the cursor
        # in the last column, where the terminal's ``^C`` wraps.
        width = len(fit(self._snap, console.width).text())
        return Measurement(width, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        fitted = fit(self._snap, console.width)  # the terminal's (rich narrows options to the cell)
        line = Text(no_wrap=True, overflow="crop", end="")
        left = " ".join(fitted.head)
        if left:
            line.append(left + " ")
        if fitted.bar:
            line.append_text(self._graphic(fitted.bar))
            line.append(" ")
        line.append("  ".join(fitted.fields))
        yield line

    def _graphic(self, width: int) -> Text:
        snap = self._snap
        done = 0.0 if not snap.total else min(snap.done / snap.total, 1.0)
        halves = int(width * 2 * done)
        full, half = divmod(halves, 2)
        style = "bar.finished" if self._finished else "bar.complete"
        graphic = Text("━" * full, style=style)
        if half:
            graphic.append("╸", style=style)
        graphic.append("━" * (width - full - half), style="bar.back")
        return graphic
