"""How an answer goes out: as it is, late, never, or broken on the wire.

The request handlers (`_routes`) decide an `Outcome` without awaiting; this module sends
it. A `Reply` is an ordinary answer. A `Special` is one whose delivery is the fault:
- `drop`: the connection closes with no answer;
- `stall`: nothing for `stall_seconds`, then the proxy's 504 (if the client still waits);
- `stall_after`: the same, after the request was done (`mint_then_timeout`);
- `reset`: the answer's status and headers, then the connection closes before the body
  (variant 0) or halfway through it (variant 1), against its Content-Length;
- `chunked`: the answer with `Transfer-Encoding: chunked`, cut off halfway, with no last
  chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from jobs._simulator import _faults as faults

__all__ = ["KINDS", "Outcome", "Reply", "Special", "deliver"]


@dataclass(frozen=True)
class Reply:
    """An ordinary answer. `api`: given by the API itself, so it carries the version
    headers and an x-request-id; False for the rate limiter's 429s and the proxy's pages."""

    response: web.Response
    api: bool = True


@dataclass(frozen=True)
class Special:
    """An answer whose delivery is the fault; `reply` is what the API meant to send."""

    kind: str
    reply: Reply | None = None
    variant: int = 0


Outcome = Reply | Special


async def deliver(
    request: web.Request, outcome: Outcome, stall_seconds: float
) -> web.StreamResponse:
    """Send `outcome` (the latency has already passed)."""
    if isinstance(outcome, Reply):
        return outcome.response
    return await _SENDERS[outcome.kind](request, outcome, stall_seconds)


async def _stall(_request: web.Request, _outcome: Special, stall_seconds: float) -> web.Response:
    await asyncio.sleep(stall_seconds)
    return faults.gateway_timeout_html()


async def _drop(request: web.Request, _outcome: Special, _stall_seconds: float) -> web.Response:
    # Close the socket with no response. aiohttp then fails to write the returned response
    # to the closed transport and discards it quietly (no 500 is sent).
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


async def _reset(
    request: web.Request, outcome: Special, _stall_seconds: float
) -> web.StreamResponse:
    meant, body = _meant(outcome)
    stream = web.StreamResponse(status=meant.status, headers=meant.headers)
    stream.content_length = len(body)
    return await _cut(request, stream, body[: len(body) // 2] if outcome.variant else b"")


async def _chunked(
    request: web.Request, outcome: Special, _stall_seconds: float
) -> web.StreamResponse:
    meant, body = _meant(outcome)
    stream = web.StreamResponse(status=meant.status, headers=meant.headers)
    stream.enable_chunked_encoding()
    return await _cut(request, stream, body[: len(body) // 2])


async def _cut(request: web.Request, stream: web.StreamResponse, part: bytes) -> web.StreamResponse:
    """Send the status line, the headers and `part`, then close the connection (the
    transport flushes what it holds first). aiohttp then finds the response sent and the
    connection gone, and lets both be."""
    await stream.prepare(request)
    if part:
        await stream.write(part)
    if request.transport is not None:
        request.transport.close()
    return stream


def _meant(outcome: Special) -> tuple[web.Response, bytes]:
    if outcome.reply is None:
        raise ValueError(f"a {outcome.kind!r} delivery needs the answer it breaks")
    meant = outcome.reply.response
    body = meant.body
    return meant, body if isinstance(body, bytes) else b""


_Sender = Callable[[web.Request, Special, float], Awaitable[web.StreamResponse]]
_SENDERS: Final[dict[str, _Sender]] = {
    "drop": _drop,
    "stall": _stall,
    "stall_after": _stall,
    "reset": _reset,
    "chunked": _chunked,
}
KINDS: Final = tuple(_SENDERS)
