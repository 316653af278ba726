"""What a quota store is: the claim a run makes of it, the store's answer, and the store's
name for a (base URL, token) pair. The stores: `batch.engine._quota_local` (a memory-mapped
file) and `batch.engine._quota_redis`; `batch.engine._quota.SharedQuota` uses them."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from typing import Protocol

from batch.engine._controller import Controller, ControlState
from batch.engine._urls import redact_url

__all__ = [
    "ALIVE_FOR",
    "MAX_PAUSE",
    "Answer",
    "Ask",
    "Claim",
    "QuotaStore",
    "parse_quota_store",
    "quota_key",
]

#: A run counts as running while it claimed within this many seconds.
ALIVE_FOR = 10.0
#: A shared cool-down longer than this is not believed (a corrupt or foreign value).
MAX_PAUSE = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """How one of this run's starts was answered; ``at`` is its time on the store's clock."""

    at: float
    refused: bool
    #: the start reclaimed a listening gap (the claim said so)
    reclaim: bool = False


@dataclass(frozen=True, slots=True)
class Ask:
    """One claim: the claimer's window and the answers it has to report since its last."""

    capacity: int
    window: float
    guard: float = 0.0
    #: seconds between listening gaps (0: none)
    listen: float = 0.0
    answers: tuple[Answer, ...] = ()
    #: runs the shared controller on the reported answers (with the claimer's ceiling)
    controller: Controller | None = None
    #: the version of the shared controller state the claimer holds
    version: int = -1


@dataclass(frozen=True, slots=True)
class Claim:
    """The store's answer: started (``wait`` 0.0), or wait ``wait`` seconds and ask again.

    ``others``: starts of other runs in the window when refused; ``at``: the store's clock;
    ``reclaim``: this start reclaims a listening gap; ``state``: the shared controller state
    when the claimer's copy (``Ask.version``) is not the current ``version``."""

    wait: float
    others: int = 0
    at: float = 0.0
    reclaim: bool = False
    version: int = -1
    state: ControlState | None = None


class QuotaStore(Protocol):
    async def claim(self, ask: Ask) -> Claim: ...

    async def pause(self, seconds: float) -> None: ...

    async def running(self) -> int: ...

    async def aclose(self) -> None: ...


def parse_quota_store(value: str) -> str:
    """``local``, ``none``, an absolute directory path, or ``redis://[user:password@]HOST
    [:PORT][/DB]``; ValueError else."""
    spec = value.strip()
    if spec in ("local", "none"):
        return spec
    if spec.startswith("/"):
        return os.path.normpath(spec)
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
        f"{redact_url(spec)!r} is not a quota store: use local, none, a directory "
        "(/path, shared with its group) or redis://HOST:PORT/DB"
    )


def quota_key(base_url: str, token: str) -> str:
    """The shared state's name: a hash of (base URL, token); the token is never stored."""
    digest = hashlib.sha256(f"batch quota\0{base_url.rstrip('/')}\0{token}".encode())
    return digest.hexdigest()[:32]
