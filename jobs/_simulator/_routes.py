"""The simulated API's request handling: `POST /workers/session` mints, `DELETE
/workers/{worker_id}/session` revokes, and every request passes the same gates.

In order, a request meets: the rolling window (429, the provider's body, no headers); the
bearer token (401); its `X-Version` (400); `reject_all` (400); for POST, its
`Idempotency-Key` (400 if unusable, then a replay or the in-progress 429) and its body
(400); then `_work`: the plan's next fault for its ID, `unknown_profiles` (404), a random
fault, and at last the mint or the revocation. From the window to the answer nothing is
awaited, so counters such as `revoke_after` are exact under concurrency; then `latency`
passes and the answer goes out (`_respond`). The API's own answers carry `X-Version`,
`X-Version-Status` (and when deprecated `Deprecation`, `Sunset`, `Link`) and an
`x-request-id`; the rate limiter's 429s and the proxy's HTML pages carry none of them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid

from aiohttp import web

from jobs._deel import UUID
from jobs._simulator import _faults as faults
from jobs._simulator import _versions as versions
from jobs._simulator._config import SimulatorConfig, SimulatorStats
from jobs._simulator._faults import CREATE, REVOKE, Endpoint
from jobs._simulator._idempotency import (
    HEADER,
    ORIGINAL_HEADER,
    Busy,
    Cached,
    Claim,
    IdempotencyCache,
    Policy,
    check_key,
)
from jobs._simulator._respond import Outcome, Reply, Special, deliver
from jobs._simulator._window import RollingWindow, capacity
from jobs._simulator._work import MOVED, PREFIX, Work

__all__ = ["MOVED", "PREFIX", "SimulatedApi"]


class SimulatedApi:
    """The state of one simulated API: its `config`, its `stats` and, once served, `base_url`."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.stats = SimulatorStats()
        self.base_url = ""
        self._revoked = False
        self._window = RollingWindow()
        self._keys = IdempotencyCache()
        self._work = Work(lambda: self.config, self.stats)

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

    # ---- the routes ----

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """`POST /rest/v2/workers/session`."""
        refused = self._arrive()
        if refused is not None:
            return await self._finish(request, refused, None)
        raw = await request.read()
        outcome, claim = self._decide_create(request, raw)
        return await self._finish(request, outcome, claim)

    async def handle_delete(self, request: web.Request) -> web.StreamResponse:
        """`DELETE /rest/v2/workers/{worker_id}/session`."""
        refused = self._arrive()
        if refused is not None:
            return await self._finish(request, refused, None)
        await request.read()
        return await self._finish(request, self._decide_revoke(request), None)

    async def handle_moved(self, request: web.Request) -> web.StreamResponse:
        """Where the 3xx faults point: a client that follows one lands here (and is counted)."""
        self.stats.followed_redirects += 1
        endpoint = Endpoint(request.method, CREATE.docs, "simulator.moved")
        message = "A simulated redirect pointed here: clients must not follow redirects"
        return faults.error_container(404, request.path, message, endpoint=endpoint)

    # ---- deciding, without awaiting ----

    def _arrive(self) -> Reply | None:
        """Count the arrival; the rate limiter's 429 when the window is full."""
        now, stats = self._now(), self.stats
        stats.requests += 1
        stats.arrivals.append(now)
        if not self._window.admit(now, capacity(self.config.rate)):
            stats.window_429 += 1
            return Reply(faults.rate_limited(self.config.retry_after), api=False)
        stats.max_in_window = max(stats.max_in_window, len(self._window))
        return None

    def _decide_create(self, request: web.Request, raw: bytes) -> tuple[Outcome, Claim | None]:
        called = self._version(request)
        refused = self._refusal(request, called, CREATE) or self._key_refusal(request)
        if refused is not None:
            return self._stamp(refused, called), None
        found = self._claim(request, raw)
        if isinstance(found, Reply):
            return self._stamp(found, called), None
        outcome = self._stamp(self._create(request, raw), called)
        if found is not None:
            self._settle(found, outcome)
        return outcome, found

    def _decide_revoke(self, request: web.Request) -> Outcome:
        called = self._version(request)
        refused = self._refusal(request, called, REVOKE)
        if refused is not None:
            return self._stamp(refused, called)
        worker_id = request.match_info["worker_id"]
        if not UUID.fullmatch(worker_id):
            message = "worker_id must be a valid UUID"
            reply = faults.error_container(400, request.path, message, "worker_id", endpoint=REVOKE)
            return self._stamp(Reply(reply), called)
        worker_id = worker_id.lower()
        self.stats.per_worker[worker_id] += 1
        return self._stamp(self._work.process(request, worker_id, REVOKE), called)

    def _version(self, request: web.Request) -> versions.Called | str:
        requested = request.headers.get(versions.VERSION_HEADER)
        self.stats.versions_seen[requested] += 1
        beta = request.headers.get(versions.BETA_HEADER)
        return versions.resolve(requested, beta, self.config)

    def _refusal(
        self, request: web.Request, called: versions.Called | str, endpoint: Endpoint
    ) -> Reply | None:
        """The 401 of a bad token, the 400 of an unknown version or of `reject_all`."""
        if not self._authorized(request.headers.get("Authorization", "")):
            return Reply(faults.error_container(401, request.path, endpoint=endpoint))
        message = called if isinstance(called, str) else self.config.reject_all
        if message is None:
            return None
        return Reply(faults.error_container(400, request.path, message, endpoint=endpoint))

    def _key_refusal(self, request: web.Request) -> Reply | None:
        key = request.headers.get(HEADER)
        message = None if key is None else check_key(key)
        if message is None:
            return None
        return Reply(faults.error_container(400, request.path, message))

    def _claim(self, request: web.Request, raw: bytes) -> Claim | Reply | None:
        """With an Idempotency-Key: a claim on it, or the replay, or the in-progress 429."""
        key = request.headers.get(HEADER)
        if key is None:
            return None
        cfg, stats = self.config, self.stats
        policy = Policy(cfg.idempotency_ttl, cfg.idempotency_linger, cfg.idempotency_retry_after)
        found = self._keys.begin(_credential(request), key, raw, self._now(), policy)
        if isinstance(found, Claim):
            return found
        if isinstance(found, Busy):
            stats.in_progress_429 += 1
            return Reply(faults.in_progress(request.path, found.retry_after))
        stats.replays += 1
        stats.key_reuse += not found.same_request
        cached = found.cached
        headers = {"Content-Type": cached.content_type, ORIGINAL_HEADER: cached.request_id}
        return Reply(web.Response(status=cached.status, body=cached.body, headers=headers))

    def _settle(self, claim: Claim, outcome: Outcome) -> None:
        """Keep a 2xx answer for replays (ready once the latency has passed); free the key
        after any other answer. A hung request (`stall`) keeps it until it ends."""
        if isinstance(outcome, Special) and outcome.kind == "stall":
            return
        reply = outcome if isinstance(outcome, Reply) else outcome.reply
        response = None if reply is None else reply.response
        if response is None or not 200 <= response.status < 300:
            self._keys.release(claim)
            return
        body = response.body if isinstance(response.body, bytes) else b""
        cached = Cached(
            response.status,
            body,
            response.headers["Content-Type"],
            response.headers["x-request-id"],
        )
        self._keys.complete(claim, cached, self._now() + self.config.latency)

    def _create(self, request: web.Request, raw: bytes) -> Outcome:
        profile_id, problem = _parse_body(raw)
        if profile_id is None:
            message, path = problem
            return Reply(faults.error_container(400, request.path, message, path))
        self.stats.per_profile[profile_id] += 1
        return self._work.process(request, profile_id, CREATE)

    def _stamp(self, outcome: Outcome, called: versions.Called | str) -> Outcome:
        """The API's own answers get an x-request-id and the version's headers."""
        reply = outcome if isinstance(outcome, Reply) else outcome.reply
        if reply is not None and reply.api:
            headers = reply.response.headers
            headers.setdefault("x-request-id", str(uuid.uuid4()))
            if isinstance(called, versions.Called):
                headers.update(versions.headers(called))
        return outcome

    def _authorized(self, header: str) -> bool:
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential or self.revoked:
            return False
        expected = self.config.token
        return expected is None or secrets.compare_digest(credential, expected)

    # ---- answering, after the latency ----

    async def _finish(
        self, request: web.Request, outcome: Outcome, claim: Claim | None
    ) -> web.StreamResponse:
        try:
            if self.config.latency > 0:
                await asyncio.sleep(self.config.latency)
            response = await deliver(request, outcome, self.config.stall_seconds)
        except asyncio.CancelledError:  # the client went away: a hung request keeps its key
            if claim is not None:
                self._keys.abandon(claim, self._now())
            raise
        if claim is not None:
            self._keys.release(claim)  # a hung request that ended; a kept answer stays
        return response


def _credential(request: web.Request) -> str:
    return request.headers.get("Authorization", "").partition(" ")[2].strip()


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
