"""One organization, one quota: the rolling window shared by every run that uses it.

The API's limit is per organization, shared by every token and process. Each run keeps its
own pacer (the even spread, the cool-down, the adaptive rate); before a request actually
starts, it also claims a start in the *shared* window: a log of the organization's starts
in the last window, kept where every cooperating run sees it (`SharedQuota`):

- ``local``: a file per (base URL, token) in ``$XDG_RUNTIME_DIR`` (else the user's cache
  dir), mode 0600, updated under ``flock`` (``_quota_local``). One host, one clock:
  CLOCK_MONOTONIC is system-wide on Linux and never steps.
- ``redis://HOST:PORT/DB``: a sorted set in Redis, claimed by a Lua script that reads the
  server's ``TIME``, so every host uses one clock (``_quota_redis``).
- ``none``: no sharing; the run paces itself alone.

A claim succeeds when the shared window holds fewer starts than the claimer's own current
capacity (its pacer's whole requests per window), so runs at --rate 5 together start at most
5 in any window, and a run whose pacer has come down after 429s yields to the others. A fresh
429 seen by one run pauses every run (a shared cool-down). If the store fails, the run warns
once and paces itself alone until the store answers again.

Why not `limits` or `pyrate-limiter` (both read): their Redis moving windows take the
timestamp from the client (``time.time()``), so hosts with skewed clocks, or an NTP step on
one, let a window admit more than the limit; they answer yes/no where a pacer needs "wait
this long"; and neither shares the local, file-based store, which is the default here. The
window is a dozen lines of Lua; the rest (availability, warnings, counts) is ours either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from batch.engine._errors import reason_of
from batch.engine._pacer import window_for_rate
from batch.engine._urls import redact_url

__all__ = ["Claim", "QuotaStore", "SharedQuota", "parse_quota_store", "quota_key"]

#: After a store failure, how long a run paces itself alone before it tries the store again.
RETRY_STORE_AFTER = 5.0
#: A run counts as running while it claimed within this many seconds.
ALIVE_FOR = 10.0
#: A shared cool-down longer than this is not believed (a corrupt or foreign value).
MAX_PAUSE = 60.0
#: Added to the window for the starts of *other* runs. Within one run, starts reach the
#: server in the order and with the delays they left with; across runs (other processes,
#: other hosts) the delay from claim to arrival varies more (scheduling on a loaded host,
#: the network): the pacer's 10 ms guard alone let 3 window 429s in 103 through with two
#: local runs. A run's own starts keep the pacer's window, so one run alone loses nothing.
SHARED_GUARD = 0.03


@dataclass(frozen=True, slots=True)
class Claim:
    """The store's answer: started (``wait`` 0.0), or wait ``wait`` seconds and ask again.
    ``others`` counts the starts of other runs in the window when the claim was refused."""

    wait: float
    others: int = 0


class QuotaStore(Protocol):
    async def claim(self, capacity: int, window: float, guard: float) -> Claim: ...

    async def pause(self, seconds: float) -> None: ...

    async def running(self) -> int: ...

    async def aclose(self) -> None: ...


def parse_quota_store(value: str) -> str:
    """``local``, ``none`` or ``redis://[user:password@]HOST[:PORT][/DB]``; ValueError else."""
    spec = value.strip()
    if spec in ("local", "none"):
        return spec
    parts = urllib.parse.urlsplit(spec)
    if parts.scheme in ("redis", "rediss"):
        try:
            port = parts.port
        except ValueError:
            port = -1
        db = parts.path.strip("/")
        if parts.hostname and port != -1 and (not db or db.isdigit()) and not parts.query:
            return spec
    raise ValueError(
        f"{redact_url(spec)!r} is not a quota store: use local, none or redis://HOST:PORT/DB"
    )


def quota_key(base_url: str, token: str) -> str:
    """The shared state's name: a hash of (base URL, token); the token is never stored."""
    digest = hashlib.sha256(f"batch quota\0{base_url.rstrip('/')}\0{token}".encode())
    return digest.hexdigest()[:32]


class SharedQuota:
    """A run's handle on the organization's shared window (or on none).

    ``async with quota.slot():`` waits for a start in it: a script's own calls to the API
    count against the same organization limit.
    """

    def __init__(
        self,
        spec: str,
        *,
        base_url: str,
        token: str,
        rate: float = 5.0,
        logger: Any = None,
    ) -> None:
        self.spec = parse_quota_store(spec)
        self.name = redact_url(self.spec)
        self.rate = rate
        #: starts that waited because other runs had taken the window
        self.waited_on_others = 0
        self._key = quota_key(base_url, token)
        self._log = logger
        self._store: QuotaStore | None = None
        self._down_until = -1.0
        self._warned = False

    async def __aenter__(self) -> SharedQuota:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def shared(self) -> bool:
        return self.spec != "none"

    def _open(self) -> QuotaStore | None:
        if self._store is None and self.shared:
            if self.spec == "local":
                from batch.engine._quota_local import LocalStore  # noqa: PLC0415

                self._store = LocalStore(self._key, warn=self._warn)
            else:
                from batch.engine._quota_redis import RedisStore  # noqa: PLC0415

                self._store = RedisStore(self.spec, self._key)
        return self._store

    async def start(self, capacity: int, window: float) -> None:
        """Wait until the shared window has room for one more start, and take it."""
        waited = False
        while True:
            claim = await self._ask("claim", capacity, window, SHARED_GUARD)
            if claim is None or claim.wait <= 0:
                return
            if claim.others and not waited:
                waited = True
                self.waited_on_others += 1
            await anyio.sleep(claim.wait)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``async with quota.slot(): ...``: one start in the organization's window, at
        ``rate`` (a script's own calls to other endpoints count against the same limit)."""
        await self.start(*window_for_rate(self.rate))
        yield

    async def pause(self, seconds: float) -> None:
        """A fresh 429: every run sharing the quota pauses for ``seconds``."""
        await self._ask("pause", min(seconds, MAX_PAUSE))

    async def running(self) -> int | None:
        """Runs that claimed a start recently (this one included if it did); None if unknown."""
        count = await self._ask("running")
        return count if isinstance(count, int) else None

    async def aclose(self) -> None:
        if self._store is not None:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    await self._store.aclose()
            self._store = None

    async def _ask(self, what: str, *args: Any) -> Any:
        store = self._open()
        if store is None or anyio.current_time() < self._down_until:
            return None
        try:
            answer = await getattr(store, what)(*args)
        except (OSError, ConnectionError, TimeoutError) as exc:
            self._unavailable(exc)
            return None
        except Exception as exc:
            # redis-py's errors are not OSErrors; a store never stops a run.
            if type(exc).__module__.split(".")[0] != "redis":
                raise
            self._unavailable(exc)
            return None
        if self._warned:
            self._warned = False
            self._info("quota_store_back", store=self.name)
        return answer

    def _unavailable(self, exc: BaseException) -> None:
        self._down_until = anyio.current_time() + RETRY_STORE_AFTER
        if not self._warned:
            self._warned = True
            self._warn(
                "quota_store_unavailable",
                {
                    "store": self.name,
                    "message": f"the shared quota in {self.name} cannot be used "
                    f"({_reason(exc, self.spec)}); this run paces itself alone "
                    "and tries the store again every few seconds",
                },
            )

    def _warn(self, event: str, fields: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.warning(event, **fields)

    def _info(self, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.info(event, **fields)


def _reason(exc: BaseException, spec: str) -> str:
    """`reason_of`, with the store URL's password (which a client may echo) hidden."""
    text = redact_url(reason_of(exc))
    password = urllib.parse.urlsplit(spec).password
    if password:
        text = text.replace(password, "***")
    return text
