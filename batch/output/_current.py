"""The current token of each key: what a --resume run skips, and the earliest expiry.

A results file's current token for a key is its newest ``ok`` record (a newer error
record leaves it current: a failed refresh does not end the token before). A resumed
run skips the keys whose token still holds beyond ``--refresh-within``; an alert on
expiry needs the earliest expiry among the current tokens once the run is over. Both
come from one map, key → expiry, read back from the file and updated with each record
the run writes.

When the run read its whole input, the earliest expiry is taken over the keys of that
input only: a key no longer in the input keeps an old token in the file, and its
expiry must not page anyone. A run that stopped early (an abort, a signal, ``--limit``)
does not know which of the file's keys its input still holds, so every current token of
the file counts: an early stop that leaves tokens to expire is worth knowing about.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from batch.engine import Result

__all__ = ["CurrentTokens", "expiry_of"]

_UNKNOWN = math.nan


def expiry_of(text: object) -> float:
    """An ``expires_at`` value as Unix seconds; NaN when it is not a date-time."""
    if not isinstance(text, str) or not text:
        return _UNKNOWN
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return _UNKNOWN
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


class CurrentTokens:
    """Key → expiry of its current token. ``key in tokens``: the token holds beyond the
    refresh limit, so the run skips the key (and the key counts as one of the input's)."""

    def __init__(
        self,
        expires: Mapping[str, str] | None = None,
        *,
        expiry_field: str | None,
        refresh_before: datetime | None = None,
    ) -> None:
        """``expires``: the results file's ``ok`` keys and their expiry text (see
        `batch.output._resume.Previous`); ``refresh_before``: tokens expiring before then
        are due (None: every ok key is kept)."""
        self._field = expiry_field
        self._expiry = {key: expiry_of(text) for key, text in (expires or {}).items()}
        self._limit = None if refresh_before is None else refresh_before.timestamp()
        #: the earliest expiry among the current tokens of the keys the input held
        self._earliest_read = math.inf

    def __len__(self) -> int:
        return len(self._expiry)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        expiry = self._expiry.get(key)
        if expiry is None:
            return False
        if not self._holds(expiry):
            return False
        if not math.isnan(expiry):
            self._earliest_read = min(self._earliest_read, expiry)
        return True

    def _holds(self, expiry: float) -> bool:
        # An unknown expiry (NaN) is refreshed when there is a limit, kept when there is none.
        return self._limit is None or expiry > self._limit

    def kept(self) -> set[str]:
        """The keys a run would skip (for reports and tests; nothing is noted)."""
        return {key for key, expiry in self._expiry.items() if self._holds(expiry)}

    def note(self, result: Result) -> None:
        """This run wrote ``result``: an ok record is the key's current token now; a
        transient error leaves the key's token as it was (if it has one); a permanent one
        (the API refused the key for good: a 404 for a key deleted since) ends the key's
        claim to a current token: its last one expiring is no token a run failed to renew."""
        if result.error is not None and result.error.kind == "invalid_input":
            return
        if result.permanent:
            self._expiry.pop(result.key, None)
            return
        if result.ok and self._field is not None:
            expiry = expiry_of(result.data.get(self._field))
            self._expiry[result.key] = expiry
        else:
            expiry = self._expiry.get(result.key, math.inf)
        if not math.isnan(expiry):
            self._earliest_read = min(self._earliest_read, expiry)

    def earliest(self, *, whole_input: bool) -> float | None:
        """The earliest expiry (Unix seconds) among the current tokens of the input's
        keys (``whole_input``: the run read all of it), else of the whole file; None
        when there is none."""
        found = self._earliest_read
        if not whole_input:
            found = min((e for e in self._expiry.values() if not math.isnan(e)), default=found)
            found = min(found, self._earliest_read)
        return None if math.isinf(found) else found
