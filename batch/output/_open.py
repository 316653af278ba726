"""Opening a results file another run may hold: waiting for it as long as --wait says."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import anyio.to_thread

from batch.engine import Busy
from batch.output._file import OutputFile, Start

__all__ = ["open_results"]


async def open_results(
    path: str,
    *,
    start: Start,
    wait: float,
    warn: Callable[[str, dict[str, object]], None],
    room: int = 0,
) -> OutputFile:
    """`OutputFile`, waiting up to ``wait`` seconds while another run holds the file."""
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            # In a thread: tightening the mode, counting the records, a rename and a folder
            # fsync are blocking, and a signal must be heard meanwhile.
            return await anyio.to_thread.run_sync(
                lambda: OutputFile(path, start=start, warn=warn, room=room)
            )
        except Busy as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            if not told:
                warn("waiting_for_lock", {"path": path, "wait_s": wait, "message": str(exc)})
                told = True
            await anyio.sleep(min(0.2, left))
