"""After a stop or at --limit: count the rows the run leaves for --resume (`not_attempted`)."""

from __future__ import annotations

import anyio

from batch.engine import Logger, Stats
from batch.input import RowItems

__all__ = ["COUNT_SECONDS", "count_not_attempted"]

#: how long the rows left may be counted (a second signal cuts it short)
COUNT_SECONDS = 5.0


async def count_not_attempted(
    items: RowItems, stats: Stats, log: Logger, total: int | None, hard_stop: anyio.Event
) -> None:
    """Add the rows left unread to ``not_attempted``.

    Bounded in time (and cut short by a second signal); past the bound, the rows
    left are estimated from the line count made at the start, if there is one.
    """
    rest: int | None = None
    with anyio.CancelScope() as scope:
        scope.deadline = anyio.current_time() + COUNT_SECONDS

        async def second_signal() -> None:
            await hard_stop.wait()
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second_signal)
            rest = await items.count_rest()
            tg.cancel_scope.cancel()
    if rest is not None:
        stats.not_attempted += rest
        return
    if scope.cancelled_caught and total is not None:
        estimate = max(total - stats.rows, 0)
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
