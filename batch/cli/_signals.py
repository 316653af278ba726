"""Signals for the whole life of a command-line run, turned into cancel scopes and stops.

Before the event loop runs (and after it ends) a handler only records a
signal: nothing is ever raised from a handler. From the start of the run to
its very last write, one receiver handles them all:

- while the run starts (opening the input, reading the results file), the
  first signal cancels the start-up: nothing is sent;
- while the engine runs, the first signal stops it (requests in flight get
  the grace period), a second one cuts them off and ends the counting of
  what is left;
- while the run finishes (the last fsync, the errors file, the metrics), a
  signal is noted in the exit code and the few writes left still happen.

SIGHUP (a closed terminal, a dropped ssh session) is handled like SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

import anyio
from anyio.abc import TaskStatus

from batch.engine import BatchError, Logger

if TYPE_CHECKING:
    from batch.engine import Engine

__all__ = [
    "HANDLED",
    "SIGNAL_EXIT",
    "Interrupts",
    "StoppedAtStart",
    "note_again",
    "noting_signals",
]

HANDLED = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
SIGNAL_EXIT = {signal.SIGHUP: 129, signal.SIGINT: 130, signal.SIGTERM: 143}

_T = TypeVar("_T")


class StoppedAtStart(Exception):
    """A signal came while the run was starting: it stops before any call.

    ``write_metrics`` is False when the signal cut a wait for another run's results
    file: that run owns the metrics file.
    """

    def __init__(self, *, write_metrics: bool) -> None:
        super().__init__("interrupted before any call")
        self.write_metrics = write_metrics


@contextlib.contextmanager
def noting_signals(received: list[signal.Signals]) -> Iterator[None]:
    """Outside the event loop a signal is only noted (the run reads the note when it starts);
    asyncio's receiver takes over while the loop runs. The handlers found are put back at
    the end (they matter when the command runs inside another program, a test runner)."""

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum))

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, note) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def note_again(received: list[signal.Signals]) -> None:
    """After the loop: asyncio put the default handlers back; note signals again."""

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum))

    if threading.current_thread() is threading.main_thread():
        for sig in HANDLED:
            signal.signal(sig, note)


class Interrupts:
    """The signals a run received, and what each one stops at the moment it comes."""

    def __init__(self, log: Logger, grace: float, received: list[signal.Signals]) -> None:
        self._log = log
        self._grace = grace
        #: every signal so far, the ones noted before the loop started first
        self.received = received
        #: set by a second signal: stop counting what is left, at once
        self.hard_stop = anyio.Event()
        self._startup: anyio.CancelScope | None = None
        self._engine: Engine | None = None

    @property
    def exit_code(self) -> int | None:
        return SIGNAL_EXIT[self.received[0]] if self.received else None

    @property
    def name(self) -> str | None:
        return self.received[0].name if self.received else None

    async def watch(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(*HANDLED) as signals:
            task_status.started()
            async for signum in signals:
                self.received.append(signal.Signals(signum))
                self._act(first=len(self.received) == 1)

    @contextlib.contextmanager
    def startup(self) -> Iterator[anyio.CancelScope]:
        """A scope for the start of the run: a signal (even an earlier one) cancels it.

        A signal wins over an error found at the same moment (the input ends because
        the process feeding it was stopped too): the caller checks ``received`` after.
        """
        with anyio.CancelScope() as scope:
            self._startup = scope
            if self.received:
                scope.cancel()
            try:
                yield scope
            except (BatchError, OSError):
                if not self.received:
                    raise
            finally:
                self._startup = None

    async def before_any_call(
        self, step: Callable[[], Awaitable[_T]], *, write_metrics_if_cut: bool = True
    ) -> _T:
        """One step of the start that may block (a pipe's header, the lock of a results file
        another run holds, a long results file to read), in a `startup` scope: a signal
        cuts it. `StoppedAtStart` if a signal came, before or during the step."""
        cut = True
        with self.startup():
            value = await step()
            cut = False
        if cut:
            raise StoppedAtStart(write_metrics=write_metrics_if_cut)
        if self.received:
            raise StoppedAtStart(write_metrics=True)
        return value

    def running(self, engine: Engine) -> None:
        """From now on a signal stops ``engine``."""
        self._engine = engine
        if self.received:
            self._act(first=True)

    def finishing(self) -> None:
        """The run is writing its last records: a signal no longer stops anything."""
        self._engine = None

    def _act(self, *, first: bool) -> None:
        name = self.received[-1].name
        if self._startup is not None:
            self._startup.cancel()
        elif self._engine is not None and first:
            self._log.warning(
                "interrupted",
                signal=name,
                grace_s=self._grace,
                message=f"stopping: requests in flight get {self._grace:g}s; "
                "send it again to stop at once",
            )
            self._engine.stop(f"interrupted by {name}")
        elif self._engine is not None:
            self._log.warning("interrupted_again", signal=name, message="stopping now")
            self._engine.stop(f"interrupted by {name}", grace=0)
            self.hard_stop.set()
        elif not first:
            self.hard_stop.set()
