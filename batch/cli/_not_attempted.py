"""After a stop or at --limit: count the rows the run leaves for --resume (`not_attempted`).

The rest of the input is read to its end and judged by the same rules as the rows
before it: a repeat is a duplicate, a blank row is blank, an invalid row is
invalid, with its warning, its record and its line in the errors file, as it
would be anywhere else in the file. Only a valid, distinct ID that was not sent
is ``not_attempted``. So the counts are one set, wherever the run stopped: the
summary, ``run_finished``, the metrics and the errors file say the same.
"""

from __future__ import annotations

import anyio

from batch.cli._context import Run
from batch.cli._parts import Parts
from batch.engine import Result

__all__ = ["COUNT_SECONDS", "count_not_attempted"]

#: how long the rows left may be counted (a second signal cuts it short)
COUNT_SECONDS = 5.0


async def count_not_attempted(run: Run, parts: Parts, hard_stop: anyio.Event) -> None:
    """Add the valid IDs left unread to ``not_attempted``; record the invalid rows among them.

    Bounded in time (and cut short by a second signal); past the bound, the rows
    left are estimated from the line count made at the start, if there is one.
    """
    stats, log, total = run.stats, run.log, parts.total

    def record(result: Result) -> None:
        stats.count(result)
        try:
            parts.writer.write_now(result)
        except OSError:  # a full disk, a closed pipe: not kept, so left for --resume
            stats.not_kept(result)

    rest: int | None = None
    with anyio.CancelScope() as scope:
        scope.deadline = anyio.current_time() + COUNT_SECONDS

        async def second_signal() -> None:
            await hard_stop.wait()
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second_signal)
            rest = await parts.items.count_rest(record)
            tg.cancel_scope.cancel()
    if rest is not None:
        stats.not_attempted += rest
        return
    stats.not_attempted += parts.items.counted  # the IDs found before the count was cut short
    if scope.cancelled_caught and total is not None:
        estimate = max(total - stats.rows, 0)  # the rows not read: what they hold is unknown
        stats.not_attempted += estimate
        log.warning(
            "not_attempted_estimate",
            message=f"the rest of the input was not counted in time; estimated from its "
            f"{total:,} lines: about {estimate:,} rows left",
        )
        return
    why = (
        "standard input was not read to its end"
        if not scope.cancelled_caught
        else ("the rest of the input was not counted in time")
    )
    log.warning("not_attempted_estimate", message=f"{why}; not_attempted is a lower bound")
