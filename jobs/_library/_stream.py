"""The contract's async generator form, safe to leave with a plain ``break``.

An async generator that yields from inside a task group is unsafe when the caller stops
early: it is closed later, in another task, and its cancel scopes then belong to no one
(PEP 789). This generator holds no scope across its ``yield``: the run lives in a task of
its own (an asyncio task: the engine's HTTP client is aiohttp, asyncio only), which hands
results over a zero-size stream, so the run keeps the caller's pace. Closing the generator
(``break`` drops it and asyncio closes it right away; ``aclose()``; an exception in the
loop body; the caller's cancellation) cancels that task and waits for its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import anyio

__all__ = ["stream"]

_R = TypeVar("_R")


async def stream(
    run: AbstractAsyncContextManager[AsyncIterable[_R]],
) -> AsyncGenerator[_R, None]:
    """The results of ``run`` (an unentered `open_worker_tokens` block, or a revoke-tokens
    one), one by one."""
    send, receive = anyio.create_memory_object_stream[_R](0)
    raised: list[BaseException] = []

    async def pump() -> None:
        try:
            async with send, run as results:
                async for result in results:
                    await send.send(result)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the generator was closed: nobody wants more
        except Exception as exc:  # RunAborted, what the input raised: the caller's to see
            raised.append(exc)

    task = asyncio.get_running_loop().create_task(pump(), name="library run")
    try:
        with receive:
            async for result in receive:
                yield result
        if raised:
            raise raised[0]
    finally:
        task.cancel()
        # Nothing of the run outlives the generator. Shielded: this also runs when the
        # caller was cancelled, and the task ends promptly once cancelled.
        with anyio.CancelScope(shield=True):
            await asyncio.wait([task])
