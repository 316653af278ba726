"""A simulated Deel API (`POST /rest/v2/workers/session`) served over real loopback HTTP.

The demo, the tests and the benchmarks run the tool against it. It enforces the provider's
rate limit (a rolling 1-second window for the whole organization, 429 with the provider's
body and no rate-limit headers) and can inject the faults real servers show: 500s, proxy
HTML pages, spurious 429s, dropped connections, stalls and 201s that break the schema,
either at random (`p_*`) or deterministically per profile (`plan`).

    async with serve(SimulatorConfig(rate=5)) as api:
        ...  # call api.base_url + "/workers/session"; inspect api.stats
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import json
import random
import secrets
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from batch import is_loopback
from jobs._deel import UUID
from jobs._simulator import _faults as faults

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

FAULTS = faults.FAULTS
PREFIX = "/rest/v2"
_PATH = PREFIX + "/workers/session"
_TOKEN_LIFETIME = dt.timedelta(hours=24)
_SHUTDOWN_TIMEOUT = 0.25  # seconds given to in-flight handlers before they are cancelled


@dataclass
class SimulatorConfig:
    """How the simulated API behaves; mutable, so tests may change it while it serves."""

    rate: float | None = 5.0  # admitted per rolling 1-s window: max(1, floor(rate)); None = off
    latency: float = 0.0  # seconds added before every response
    p_500: float = 0.0
    p_503_html: float = 0.0
    p_429: float = 0.0  # spurious 429 (counted in `injected`, not in `window_429`)
    p_drop: float = 0.0
    p_stall: float = 0.0
    p_malformed: float = 0.0
    stall_seconds: float = 3600.0
    plan: dict[str, list[str]] = field(default_factory=dict)  # profile -> faults, in order
    unknown_profiles: set[str] = field(default_factory=set)  # -> 404
    token: str | None = None  # the accepted bearer token; None = any non-empty one
    revoke_after: int | None = None  # after this many 201s, every request gets 401
    retry_after: float | str | None = None  # if set, a Retry-After header on 429 and 503
    seed: int | None = None  # for the random faults

    def __post_init__(self) -> None:
        for profile_id, planned in self.plan.items():
            unknown = [name for name in planned if name not in FAULTS]
            if unknown:
                raise ValueError(
                    f"plan for {profile_id}: unknown faults {unknown}; known: {FAULTS}"
                )


@dataclass
class SimulatorStats:
    """What the simulated API saw and did."""

    requests: int = 0  # every arrival
    per_profile: collections.Counter[str] = field(default_factory=collections.Counter)
    created: int = 0  # valid 201s
    window_429: int = 0  # 429s from the rolling window
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    arrivals: list[float] = field(default_factory=list)  # loop time of each arrival
    issued: dict[str, list[str]] = field(default_factory=dict)  # profile -> tokens issued
    max_in_window: int = 0  # most admitted requests seen in one rolling 1-s window


class SimulatedApi:
    """The state of one simulated API: its `config`, its `stats` and, once served, `base_url`."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.stats = SimulatorStats()
        self.base_url = ""
        self._revoked = False
        self._window: collections.deque[float] = collections.deque()
        self._rng = random.Random(self.config.seed)
        self._malformed_count = 0

    @property
    def revoked(self) -> bool:
        """True once the org token is revoked (`revoke()` or `revoke_after` 201s)."""
        limit = self.config.revoke_after
        return self._revoked or (limit is not None and self.stats.created >= limit)

    def revoke(self) -> None:
        """Revoke the org token now: every later request gets 401."""
        self._revoked = True

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """`POST /rest/v2/workers/session`."""
        now = self._now()
        stats, cfg = self.stats, self.config
        stats.requests += 1
        stats.arrivals.append(now)

        # The rolling window (now - 1, now]: only admitted requests occupy it.
        window = self._window
        edge = now - 1.0
        while window and window[0] <= edge:
            window.popleft()
        if cfg.rate is not None and len(window) >= max(1, int(cfg.rate)):
            stats.window_429 += 1
            return await self._respond(request, faults.rate_limited(cfg.retry_after))
        window.append(now)
        stats.max_in_window = max(stats.max_in_window, len(window))

        raw = await request.read()
        # Everything from here to the answer is decided without awaiting, so that counters
        # such as `revoke_after` are exact under concurrency.
        return await self._respond(request, self._decide(request, raw))

    def _decide(self, request: web.Request, raw: bytes) -> web.Response | str:
        """The answer to an admitted request, or the name of a fault that has none."""
        cfg, stats = self.config, self.stats
        if not self._authorized(request.headers.get("Authorization", "")):
            return faults.error_container(401, request.path)

        profile_id, problem = _parse_body(raw)
        if profile_id is None:
            message, path = problem
            return faults.error_container(400, request.path, message, path)
        stats.per_profile[profile_id] += 1

        fault: str | None = None
        planned = cfg.plan.get(profile_id)
        if planned:
            index = stats.per_profile[profile_id] - 1
            fault = planned[index] if index < len(planned) else None
        if fault is None and profile_id in cfg.unknown_profiles:
            return faults.error_container(404, request.path)
        if fault is None:
            fault = self._random_fault()
        if fault is not None:
            stats.injected[fault] += 1
            return self._fault(fault, request.path)

        token = "wt_" + secrets.token_urlsafe(24)
        stats.created += 1
        stats.issued.setdefault(profile_id, []).append(token)
        body = {"data": {"token": token, "expires_at": _expires_at()}}
        return web.Response(status=201, text=json.dumps(body), content_type="application/json")

    def _authorized(self, header: str) -> bool:
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential or self.revoked:
            return False
        expected = self.config.token
        return expected is None or secrets.compare_digest(credential, expected)

    def _random_fault(self) -> str | None:
        cfg = self.config
        odds = (cfg.p_500, cfg.p_503_html, cfg.p_429, cfg.p_drop, cfg.p_stall, cfg.p_malformed)
        if not any(odds):
            return None
        draw = self._rng.random()
        for name, p in zip(faults.RANDOM_FAULTS, odds, strict=True):
            if draw < p:
                return name
            draw -= p
        return None

    def _fault(self, name: str, url: str) -> web.Response | str:
        if name in ("drop", "stall"):
            return name
        if name == "429":
            return faults.rate_limited(self.config.retry_after)
        if name == "503_html":
            return faults.service_unavailable_html(self.config.retry_after)
        if name == "malformed":
            self._malformed_count += 1
            return faults.malformed_created(self._malformed_count - 1, _expires_at())
        if name in ("400", "401", "403", "404", "500"):
            path = "data.profile_id" if name == "400" else None
            return faults.error_container(int(name), url, None, path)
        raise ValueError(f"unknown fault {name!r} in plan; known: {', '.join(FAULTS)}")

    async def _respond(self, request: web.Request, answer: web.Response | str) -> web.Response:
        if self.config.latency > 0:
            await asyncio.sleep(self.config.latency)
        if isinstance(answer, web.Response):
            return answer
        if answer == "stall":
            await asyncio.sleep(self.config.stall_seconds)
            return faults.gateway_timeout_html()
        # "drop": close the socket with no response. aiohttp then fails to write the returned
        # response to the closed transport and discards it quietly (no 500 is sent).
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)


def _parse_body(raw: bytes) -> tuple[str | None, tuple[str, str]]:
    """(canonical profile ID, _) or (None, (message, JSON path)) for a 400."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, ("Request body must be valid JSON", "body")
    if not isinstance(body, dict):
        return None, ("Request body must be an object", "body")
    data = body.get("data")
    if not isinstance(data, dict):
        return None, ("data is required and must be an object", "data")
    profile_id = data.get("profile_id")
    if profile_id is None:
        return None, ("profile_id is required", "data.profile_id")
    if not isinstance(profile_id, str) or not UUID.fullmatch(profile_id):
        return None, ("profile_id must be a valid UUID", "data.profile_id")
    return profile_id.lower(), ("", "")


def _expires_at() -> str:
    expiry = dt.datetime.now(dt.UTC) + _TOKEN_LIFETIME
    return expiry.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_app(api: SimulatedApi) -> web.Application:
    """An aiohttp application serving `api` under `/rest/v2`."""
    app = web.Application()
    app.router.add_post(_PATH, api.handle)
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
