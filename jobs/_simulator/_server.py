"""A simulated Deel API served over real loopback HTTP: `POST /rest/v2/workers/session`
(mint a worker token) and `DELETE /rest/v2/workers/{worker_id}/session` (revoke it).

The demo, the tests and the benchmarks run the tool against it. It models what Deel
documents (docs/simulator.md has the links and every knob):
- the rate limit: a rolling 1-second window for the whole organization, 429 with the
  provider's body and no rate-limit headers (`_window`);
- one active token per worker: a mint replaces the previous token, DELETE ends it, a
  second DELETE or an unknown worker is a 404 (`_lifecycle`);
- API versions: `X-Version`, a 400 for one that is not published, the lifecycle state in
  the answer's headers, `Deprecation`/`Sunset` for a deprecated one (`_versions`);
- idempotency keys: a POST's 2xx answer replayed for 24 h per (token, key), a 429 while
  the first is in progress (`_idempotency`);
and it injects the faults real servers show, at random (`p_*`) or per ID (`plan`):
errors, proxy pages, spurious 429s, drops, stalls, redirects, broken 201s, and answers
lost after the mint (`_faults`, `_respond`). `_routes` decides each answer; this module
serves them.

    async with serve(SimulatorConfig(rate=5)) as api:
        ...  # call api.base_url + "/workers/session"; inspect api.stats
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from batch import is_loopback
from jobs._simulator import _faults as faults
from jobs._simulator._config import SimulatorConfig, SimulatorStats
from jobs._simulator._routes import MOVED, PREFIX, SimulatedApi

__all__ = [
    "FAULTS",
    "PREFIX",
    "SimulatedApi",
    "SimulatorConfig",
    "SimulatorStats",
    "is_loopback",
    "make_app",
    "serve",
]

FAULTS: Final = faults.FAULTS
_SESSION: Final = PREFIX + "/workers/session"
_WORKER_SESSION: Final = PREFIX + "/workers/{worker_id}/session"
_SHUTDOWN_TIMEOUT: Final = 0.25  # seconds given to in-flight handlers before they are cancelled


def make_app(api: SimulatedApi) -> web.Application:
    """An aiohttp application serving `api` under `/rest/v2`."""
    app = web.Application()
    app.router.add_post(_SESSION, api.handle)
    app.router.add_delete(_WORKER_SESSION, api.handle_delete)
    app.router.add_route("*", MOVED + "/{tail:.*}", api.handle_moved)
    return app


@contextlib.asynccontextmanager
async def serve(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[SimulatedApi]:
    """Serve a simulated API on loopback `host:port` (0 = a free port) for the block's length.

    Exiting the block stops the server within about a quarter of a second, cancelling
    requests that are still stalled or waiting. `localhost` is served on 127.0.0.1.
    With ``ssl_context`` it serves HTTPS (for TLS tests with a local CA).
    """
    if not is_loopback(host):
        raise ValueError(f"the simulated API serves loopback hosts only, not {host!r}")
    bind = "127.0.0.1" if host.lower() == "localhost" else host.strip("[]")
    api = SimulatedApi(config)
    runner = web.AppRunner(
        make_app(api),
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=_SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, bind, port, ssl_context=ssl_context)
        await site.start()
        real_port = runner.addresses[0][1]
        url_host = f"[{bind}]" if ":" in bind else bind
        scheme = "https" if ssl_context is not None else "http"
        api.base_url = f"{scheme}://{url_host}:{real_port}{PREFIX}"
        yield api
    finally:
        await runner.cleanup()
