"""One quota, one window: the rolling window shared by every run that uses the same API token.

The API's limit covers every token and process of the account. Each run keeps its own pacer
(the even spread, the cool-down); before a request actually starts, it also claims a start in
the *shared* window, kept where every cooperating run sees it (`SharedQuota`):

- ``local``: a memory-mapped file per (base URL, token) in ``~/.cache/batch-quota/``, under
  ``flock``, checked so that no other user can steer it (``_quota_local``, ``_quota_dir``).
- an absolute directory path: the same, in a directory several Unix users name and share
  through its group.
- ``redis://HOST:PORT/DB``: sorted sets in Redis, claimed by a Lua script that reads the
  server's ``TIME``, so every host uses one clock (``_quota_redis``).
- ``none``: no sharing; the run paces itself alone.

With a store, the runs also share one controller (`batch.engine._controller`): what any run
learns about other clients sets the rate of all, the listening gaps are the window's, and the
cool-down after a fresh 429 pauses every run. A claim succeeds when the window has room at the
claimer's capacity and no run that has waited longer is still coming back for it (so runs take
turns). If the store fails, the run warns once and paces itself alone, with the controller's
last state, until the store answers again.

Why not `limits` or `pyrate-limiter` (both read): their Redis moving windows take the
timestamp from the client (``time.time()``), so hosts with skewed clocks, or an NTP step on
one, let a window admit more than the limit; they answer yes/no where a pacer needs "wait
this long"; and neither shares the local, file-based store, which is the default here.
"""

from __future__ import annotations

import contextlib
import shutil
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from batch.engine._errors import ConfigError, reason_of
from batch.engine._log import Logger
from batch.engine._pacer import window_for_rate
from batch.engine._quota_store import (
    MAX_PAUSE,
    Answer,
    Ask,
    Claim,
    QuotaStore,
    parse_quota_store,
    quota_key,
)
from batch.engine._urls import redact_url

if TYPE_CHECKING:
    from batch.engine._pacer import Pacer

__all__ = ["SharedQuota"]

#: After a store failure, how long a run paces itself alone before it tries the store again.
RETRY_STORE_AFTER = 5.0
#: Added to the window for the starts of *other* runs. Within one run, starts reach the
#: server in the order and with the delays they left with; across runs (other processes,
#: other hosts) the delay from claim to arrival varies more (scheduling on a loaded host,
#: the network): the pacer's 10 ms guard alone let 3 window 429s in 103 through with two
#: local runs. A run's own starts keep the pacer's window, so one run alone loses nothing.
SHARED_GUARD = 0.03


class SharedQuota:
    """A run's handle on the shared window (or on none).

    The engine passes its ``pacer``: the store then runs its listening gaps and its
    controller, shared with the other runs. ``async with quota.slot():`` waits for a start in
    the window without one: a script's own calls to the API count against the same limit.
    """

    def __init__(  # noqa: PLR0913 - keyword-only: each is one thing a front end says
        self,
        spec: str,
        *,
        base_url: str,
        token: str,
        rate: float = 5.0,
        logger: Logger | None = None,
        pacer: Pacer | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.spec = parse_quota_store(spec)
        self.name = redact_url(self.spec)
        self.rate = rate
        #: starts that waited because other runs had taken the window
        self.waited_on_others = 0
        self._key = quota_key(base_url, token)
        self._log = logger
        self._pacer = pacer
        self._retry_after = retry_after
        self._store: QuotaStore | None = None
        self._down_until = -1.0
        self._warned = False
        self._version = -1
        self._offset = 0.0  # the store's clock less this loop's
        #: (this loop's clock, the store's, reclaim) of recent starts, to report answers by
        self._started: deque[tuple[float, float, bool]] = deque(maxlen=4096)
        #: reclaims among them whose answer has not been reported yet
        self._reclaims = 0
        self._place = None
        #: the private directory this run made for its state (removed at the end)
        self._fallback: Path | None = None
        if self.spec.startswith("/"):
            from batch.engine._quota_dir import Unsafe, named_place  # noqa: PLC0415

            try:
                self._place = named_place(self.spec)
            except Unsafe as exc:
                raise ConfigError(f"the quota directory cannot be shared safely: {exc}") from None
        if pacer is not None and self.shared:
            pacer.shared = True

    async def __aenter__(self) -> SharedQuota:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def shared(self) -> bool:
        return self.spec != "none"

    def _open(self) -> QuotaStore | None:
        if self._store is None and self.shared:
            if self.spec.startswith("redis"):
                from batch.engine._quota_redis import RedisStore  # noqa: PLC0415

                self._store = RedisStore(self.spec, self._key)
            else:
                self._store = self._local()
        return self._store

    def _local(self) -> QuotaStore:
        from batch.engine._quota_dir import Unsafe, default_place, private_fallback  # noqa: PLC0415
        from batch.engine._quota_local import LocalStore  # noqa: PLC0415

        place = self._place or default_place()
        store = LocalStore(self._key, warn=self._warn, place=place)
        if self._place is None:
            try:
                store._map()
            except Unsafe as exc:
                fallback = private_fallback()
                self._warn(
                    "quota_state_unsafe",
                    {"path": str(place.directory), "message": f"the shared quota's state "
                     f"cannot be trusted: {exc}; this run keeps its state in {fallback.directory} "
                     "instead (not shared with other runs); remove or fix that directory"},
                )  # fmt: skip
                store = LocalStore(self._key, warn=self._warn, place=fallback)
                self._fallback = fallback.directory
        return store

    # -- claims -------------------------------------------------------------------
    async def start(self, capacity: int, window: float) -> None:
        """Wait until the shared window has room for one more start, and take it."""
        waited = False
        while True:
            claim = await self._claim(capacity, window)
            if claim is None or claim.wait <= 0:
                return
            if claim.others and not waited:
                waited = True
                self.waited_on_others += 1
            await anyio.sleep(claim.wait)

    async def _claim(self, capacity: int, window: float) -> Claim | None:
        store = self._open()
        if store is None or not self._up():
            return None
        pacer = self._pacer
        ask = Ask(capacity, window, SHARED_GUARD)
        if pacer is not None:
            mine = pacer.controller
            answers, pacer.outbox[:] = self._answers(pacer.outbox), []
            listen = mine.state.gap_every if mine.gap(anyio.current_time(), window) else 0.0
            # The store runs the controller on its clock: a copy, on that clock.
            rules = mine.copy(mine.state.shifted(self._offset)) if answers else None
            ask = Ask(capacity, window, SHARED_GUARD, listen, answers, rules, self._version)
        try:
            claim = await store.claim(ask)
        except Exception as exc:
            self._failed(exc)
            return None
        now = anyio.current_time()
        self._offset = claim.at - now
        self._back()
        if pacer is not None:
            if claim.state is not None:
                pacer.controller.state = claim.state.shifted(-self._offset)
            self._version = claim.version
        if claim.wait <= 0:
            self._started.append((now, claim.at, claim.reclaim))
            self._reclaims += claim.reclaim
        return claim

    def _answers(self, outbox: list[tuple[float, bool]]) -> tuple[Answer, ...]:
        """This run's answers, each at its start's time on the store's clock."""
        found = []
        started = self._started
        for at, refused in outbox:
            if not (refused or self._reclaims):
                continue  # an accepted start that reclaimed nothing tells the store nothing
            # The start is the latest claim made before it (the engine reads its clock right
            # after the claim returns).
            for local, remote, reclaim in reversed(started):
                if local <= at + 1e-3:
                    if at - local < 1.0 and (refused or reclaim):
                        found.append(Answer(remote, refused, reclaim))
                        self._reclaims -= reclaim
                    break
        return tuple(found)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``async with quota.slot(): ...``: one start in the shared window, at ``rate`` (a
        script's own calls to other endpoints count against the same limit)."""
        await self.start(*window_for_rate(self.rate))
        yield

    async def pause(self, seconds: float) -> None:
        """A fresh 429: every run sharing the quota pauses for ``seconds``."""
        store = self._open()
        if store is None or not self._up():
            return
        try:
            await store.pause(min(seconds, MAX_PAUSE))
        except Exception as exc:
            self._failed(exc)

    async def running(self) -> int | None:
        """Runs that claimed a start recently (this one included if it did); None if unknown."""
        store = self._open()
        if store is None or not self._up():
            return None
        try:
            count = await store.running()
        except Exception as exc:
            self._failed(exc)
            return None
        self._back()
        return count

    async def aclose(self) -> None:
        if self._store is not None:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    await self._store.aclose()
            self._store = None
        if self._fallback is not None:
            shutil.rmtree(self._fallback, ignore_errors=True)
            self._fallback = None

    # -- the store failing and coming back -----------------------------------------------
    def _up(self) -> bool:
        return anyio.current_time() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        # redis-py's errors are not OSErrors; a store never stops a run.
        known = isinstance(exc, OSError | ConnectionError | TimeoutError)
        if not known and type(exc).__module__.split(".")[0] != "redis":
            raise exc
        wait = RETRY_STORE_AFTER if self._retry_after is None else self._retry_after
        self._down_until = anyio.current_time() + wait
        if self._pacer is not None:
            self._pacer.shared = False  # alone, from the controller's last state
            self._pacer.outbox.clear()
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

    def _back(self) -> None:
        if self._pacer is not None:
            self._pacer.shared = True
        if self._warned:
            self._warned = False
            if self._log is not None:
                self._log.info("quota_store_back", store=self.name)

    def _warn(self, event: str, fields: dict[str, str]) -> None:
        if self._log is not None:
            self._log.warning(event, **fields)


def _reason(exc: BaseException, spec: str) -> str:
    """`reason_of`, with the store URL's password (which a client may echo) hidden."""
    text = redact_url(reason_of(exc))
    password = urllib.parse.urlsplit(spec).password
    if password:
        text = text.replace(password, "***")
    return text
