"""What the API does for a request that passed its gates: the plan's next fault for the ID,
else the 404 of an unknown ID, else a random fault, else the work itself (mint or revoke).

Faults, by what they do (docs/simulator.md has the table):
- instead of the work: `400 401 403 404 500` (ApiErrorContainer), `429` (the rate
  limiter's body), `503_html` (a proxy's page), `301 302 307` (a Location), `drop`,
  `stall`;
- the work, then its answer is lost: `mint_then_timeout` (held past the client's
  timeout), `mint_then_reset` (the connection closes after the headers, then mid-body,
  in turn), `broken_chunked_201` (a chunked body cut off); on DELETE the revocation is
  done and its answer lost the same ways;
- a 201 that is hard to take: `malformed` (breaks the schema, no token minted),
  `token_surrogate`, `token_crlf`, `duplicate_keys` (a token is minted; see `_faults`);
  on DELETE these revoke, then answer a 200 whose body is not `{}`.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from typing import Final

from aiohttp import web

from jobs._simulator import _faults as faults
from jobs._simulator._config import SimulatorConfig, SimulatorStats
from jobs._simulator._faults import CREATE, REVOKE, Endpoint
from jobs._simulator._lifecycle import Lifecycle
from jobs._simulator._picker import FaultPicker
from jobs._simulator._respond import Outcome, Reply, Special

__all__ = ["MOVED", "PREFIX", "Work"]

PREFIX: Final = "/rest/v2"
MOVED: Final = PREFIX + "/moved"  # where the 3xx faults point
_TOKEN_LIFETIME: Final = dt.timedelta(hours=24)
_ERRORS: Final = ("400", "401", "403", "404", "500")
#: The faults that do the work and then lose its answer, and how it is lost (`_respond`).
_LOST: Final = {"mint_then_timeout": "stall_after", "mint_then_reset": "reset",
                "broken_chunked_201": "chunked"}  # fmt: skip
_ODD_TOKENS: Final = {"token_surrogate": faults.surrogate_token, "token_crlf": faults.crlf_token}
_NO_ACTIVE: Final = "No active token for this worker"
_NO_WORKER: Final = "Worker not found"


class Work:
    """Mints and revocations, and the faults that come instead; `config` is read afresh."""

    def __init__(self, config: Callable[[], SimulatorConfig], stats: SimulatorStats) -> None:
        self._config = config
        self._stats = stats
        self._picker = FaultPicker(config().seed)
        self._lifecycle = Lifecycle(stats.workers)
        self._rotation: collections.Counter[str] = collections.Counter()

    def process(self, request: web.Request, worker_id: str, endpoint: Endpoint) -> Outcome:
        """The answer to a request for `worker_id` (a canonical ID) at `endpoint`."""
        config = self._config()
        fault = self._picker.planned(config, worker_id)
        if fault is None and worker_id in config.unknown_profiles:
            message = None if endpoint is CREATE else _NO_WORKER
            return Reply(faults.error_container(404, request.path, message, endpoint=endpoint))
        fault = fault or self._picker.drawn(config)
        if fault is not None:
            self._stats.injected[fault] += 1
            return self._fault(fault, request, worker_id, endpoint)
        return self._mint(worker_id) if endpoint is CREATE else self._revoke(request, worker_id)

    def _mint(self, worker_id: str, token: str | None = None) -> Reply:
        token = self._record_mint(worker_id, token or faults.new_token())
        return Reply(faults.created(token, _expires_at()))

    def _record_mint(self, worker_id: str, token: str) -> str:
        self._stats.created += 1
        self._stats.issued.setdefault(worker_id, []).append(token)
        self._lifecycle.mint(worker_id, token)
        return token

    def _revoke(self, request: web.Request, worker_id: str) -> Reply:
        predate = self._config().tokens_predate
        if self._lifecycle.revoke(worker_id, predate=predate) is None:
            return Reply(faults.error_container(404, request.path, _NO_ACTIVE, endpoint=REVOKE))
        self._stats.revocations += 1
        return Reply(faults.revoked())

    def _fault(
        self, name: str, request: web.Request, worker_id: str, endpoint: Endpoint
    ) -> Outcome:
        instead = self._instead(name, request, endpoint)
        if instead is not None:
            return instead
        creating = endpoint is CREATE
        if name in _LOST:  # the work is done, then its answer is lost on the way
            done = self._mint(worker_id) if creating else self._revoke(request, worker_id)
            return Special(_LOST[name], done, variant=self._rotate(name) % 2)
        if not creating:  # the token-content faults on DELETE: revoked, then a broken 200
            done = self._revoke(request, worker_id)
            return Reply(faults.malformed_revoked()) if done.response.status == 200 else done
        return self._odd_created(name, worker_id)

    def _instead(self, name: str, request: web.Request, endpoint: Endpoint) -> Outcome | None:
        """The faults that answer instead of doing the work (the same for both methods)."""
        if name in ("drop", "stall"):
            return Special(name)
        if name in faults.REDIRECTS:
            return Reply(faults.redirect(int(name), _moved(request)))
        if name in _ERRORS:
            return Reply(_error_fault(int(name), request.path, endpoint))
        bare = {"429": faults.rate_limited, "503_html": faults.service_unavailable_html}.get(name)
        return None if bare is None else Reply(bare(self._config().retry_after), api=False)

    def _odd_created(self, name: str, worker_id: str) -> Reply:
        """The 201s that mint a token hard to store, or none at all (`malformed`)."""
        if name == "malformed":
            return Reply(faults.malformed_created(self._rotate(name), _expires_at()))
        if name == "duplicate_keys":
            token = self._record_mint(worker_id, faults.new_token())
            return Reply(faults.duplicate_keys_created(token, _expires_at()))
        odd = _ODD_TOKENS.get(name)
        if odd is None:
            raise ValueError(f"unknown fault {name!r} in plan; known: {', '.join(faults.FAULTS)}")
        return self._mint(worker_id, odd())

    def _rotate(self, name: str) -> int:
        """How many times `name` was used before (picks a variant in turn)."""
        self._rotation[name] += 1
        return self._rotation[name] - 1


def _error_fault(status: int, url: str, endpoint: Endpoint) -> web.Response:
    creating = endpoint is CREATE
    path = ("data.profile_id" if creating else "worker_id") if status == 400 else None
    message = _NO_WORKER if status == 404 and not creating else None
    return faults.error_container(status, url, message, path, endpoint=endpoint)


def _moved(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{MOVED}{request.path.removeprefix(PREFIX)}"


def _expires_at() -> str:
    expiry = dt.datetime.now(dt.UTC) + _TOKEN_LIFETIME
    return expiry.isoformat(timespec="milliseconds").replace("+00:00", "Z")
