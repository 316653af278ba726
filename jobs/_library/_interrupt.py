"""Ctrl-C for `create_worker_tokens_sync`, which runs an event loop of its own.

asyncio.run's own handling cancels the main task: requests in flight would be cut off
and the results obtained lost with a bare KeyboardInterrupt. Instead, while the sync form
runs (in the main thread, and only if SIGINT has Python's default handler, i.e. the
caller installed none): the first Ctrl-C stops the run as the command line's does (no new
IDs, ``grace`` seconds for requests in flight), the second cuts them off at once, a third
raises KeyboardInterrupt where the program is. The previous handler is put back after.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

__all__ = ["SigintHandler"]

_CUT_OFF = 2  # the Ctrl-C that cuts requests in flight off


class SigintHandler:
    """``with SigintHandler() as h:`` counts Ctrl-Cs in ``h.count`` and calls the function
    given to `on_interrupt` on the event loop: ``stop()``, then ``stop(grace=0)``."""

    def __init__(self) -> None:
        self.count = 0
        self._stop: Callable[..., None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None
        self._installed = False

    def on_interrupt(self, stop: Callable[..., None]) -> None:
        """Called from the running loop: where and what to call on Ctrl-C."""
        self._loop = asyncio.get_running_loop()
        self._stop = stop
        if self.count:  # a Ctrl-C came while the run was being set up
            stop(grace=0 if self.count >= _CUT_OFF else None)

    def __enter__(self) -> SigintHandler:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > _CUT_OFF:
            raise KeyboardInterrupt
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            grace = 0 if self.count >= _CUT_OFF else None
            loop.call_soon_threadsafe(lambda: stop(grace=grace))
