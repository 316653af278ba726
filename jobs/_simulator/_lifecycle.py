"""Worker tokens over their life: one active token per worker, minted, replaced, revoked.

Deel documents that only one worker token exists per worker at a time (a new one ends the
previous) and that `DELETE /workers/{worker_id}/session` "immediately revokes the active
access token". Pure state, no clock: the records are what `SimulatorStats.workers` shows.

A simulator started a moment ago has not seen the tokens minted before it (an earlier
`--simulate` run served by another in-process simulator, or the real API). With
``predate=True`` a well-formed worker ID this simulator has never minted for is taken to
hold such a token, active until revoked here: `revoke` ends it once (the record then shows
`PRIOR_TOKEN` as revoked) and a second revoke finds no active token. With ``predate=False``
a worker this simulator never minted for has no active token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["PRIOR_TOKEN", "Lifecycle", "WorkerTokens"]

#: Stands for a token issued before this simulator started (its value was never seen here).
PRIOR_TOKEN: Final = "(a token issued before this simulator started)"  # noqa: S105 - a label


@dataclass
class WorkerTokens:
    """One worker's tokens as this simulator knows them."""

    issued: list[str] = field(default_factory=list)  # minted here, in order
    active: str | None = None  # the one that works now; PRIOR_TOKEN for one from before
    revoked: list[str] = field(default_factory=list)  # ended by DELETE, in order

    @property
    def replaced(self) -> list[str]:
        """Tokens minted here that a later mint ended (neither active nor revoked)."""
        ended = set(self.revoked)
        return [t for t in self.issued if t != self.active and t not in ended]


class Lifecycle:
    """The tokens of every worker; `workers` is shared with the stats (worker ID -> record)."""

    def __init__(self, workers: dict[str, WorkerTokens] | None = None) -> None:
        self.workers: dict[str, WorkerTokens] = {} if workers is None else workers

    def mint(self, worker_id: str, token: str) -> str | None:
        """Make `token` the worker's active token; returns the one it replaced, if any."""
        record = self.workers.setdefault(worker_id, WorkerTokens())
        previous = record.active
        record.issued.append(token)
        record.active = token
        return previous

    def revoke(self, worker_id: str, *, predate: bool) -> str | None:
        """End the worker's active token and return it; None when there is none to end."""
        record = self.workers.get(worker_id)
        if record is None:
            if not predate:
                return None
            record = self.workers[worker_id] = WorkerTokens(active=PRIOR_TOKEN)
        token = record.active
        if token is None:
            return None
        record.active = None
        record.revoked.append(token)
        return token
