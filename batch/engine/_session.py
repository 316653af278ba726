"""The HTTP session of one run: its connection pool, TLS context, User-Agent, and the trace
that says when each request went on the wire. `send` (in _transport.py) uses it."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import aiohttp
import anyio

from batch.engine._options import EngineOptions

__all__ = ["open_session", "tls_context"]


@contextlib.asynccontextmanager
async def open_session(
    options: EngineOptions,
    ssl_context: ssl.SSLContext | None,
    on_sent: Callable[[float], None],
) -> AsyncIterator[aiohttp.ClientSession]:
    """A session for ``options`` (at most ``concurrency`` connections), closed on leaving,
    even when the run is cancelled. ``on_sent(slot)`` is called when a request's headers
    have gone out, with the ``trace_ctx`` that `send` was given (a float: the start's
    slot in the pacer's window; anything else is not reported)."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=options.concurrency,
            ssl=tls_context(options.base_url, ssl_context),
        ),
        headers={"User-Agent": options.user_agent},
        trace_configs=[_sent_trace(on_sent)],
    )
    try:
        yield session
    finally:
        with anyio.CancelScope(shield=True):  # closed even when the run is cancelled
            await session.close()


def tls_context(base_url: str, given: ssl.SSLContext | None) -> ssl.SSLContext | bool:
    """``given`` if any; for https a context made now, which honours SSL_CERT_FILE /
    SSL_CERT_DIR as they are (aiohttp's default one is built once, at import), with
    verification on; for plain http (loopback only) none to build (it costs 20 ms)."""
    if given is not None:
        return given
    if base_url.startswith("https:"):
        return ssl.create_default_context()
    return True


def _sent_trace(on_sent: Callable[[float], None]) -> aiohttp.TraceConfig:
    async def headers_sent(
        _session: aiohttp.ClientSession,
        context: SimpleNamespace,  # aiohttp's type for a trace's context
        _params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        slot = context.trace_request_ctx
        if isinstance(slot, float):
            on_sent(slot)

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    return trace
