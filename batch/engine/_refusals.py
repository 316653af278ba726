"""When the API refuses the requests themselves, not the keys: a small watch. Pure.

A permanent answer (a 4xx other than 401, 403 and 429) is about its key: an input where
some keys are unknown to the API gets some 404s among its successes, and runs to the end.
But when the first `SAME_REFUSALS` answers of a run are all the same permanent status and
not one request succeeded, the answers say nothing about the keys: they are not this API's
(another account's, another environment's), or the API no longer takes the request as it
is sent (after an API change, the same 400 for everything). Going on would repeat that
answer for every key, so the run stops, quoting the API's own words.

Only the start of a run is watched: once a request has succeeded, or two refusals differ,
the set-up is right and a refusal is about its key again. A run with fewer keys than
`SAME_REFUSALS` is never stopped this way: each key gets its record.
"""

from __future__ import annotations

from batch.engine._results import Abort, Cause
from batch.engine._types import Failure

__all__ = ["SAME_REFUSALS", "RefusalWatch"]

#: how many identical refusals, with no success before them, stop a run: enough that a
#: file whose first rows happen to be unknown keys is not taken for a wrong set-up, few
#: enough that a run stops within a few dozen requests (those in flight then finish)
SAME_REFUSALS = 20


class RefusalWatch:
    """Watches the first answers of a run: `succeeded()` after a success, `refused(failure)`
    after a permanent refusal, which returns the `Abort` when the first ``needed`` answers
    were all that same status. ``check`` ends the abort's message: what to look at."""

    def __init__(self, check: str, needed: int = SAME_REFUSALS) -> None:
        self.needed = needed
        self._check = check
        self._first: Failure | None = None
        self._count = 0
        #: a success or a different refusal came, or the abort was given: no more watching
        self._settled = False

    @property
    def watching(self) -> bool:
        return not self._settled

    def succeeded(self) -> None:
        """A request succeeded: the set-up is right."""
        self._settled = True

    def refused(self, failure: Failure) -> Abort | None:
        """A permanent refusal: the abort, if it makes ``needed`` alike and none succeeded."""
        if self._settled:
            return None
        if self._first is None:
            self._first = failure
        elif failure.http_status != self._first.http_status:
            self._settled = True  # refusals that differ are about their keys
            return None
        self._count += 1
        if self._count < self.needed:
            return None
        self._settled = True
        first = self._first
        return Abort(
            Cause.REFUSED,
            f"the API refused each of the first {self._count} requests with HTTP "
            f"{first.http_status} ({first.message!r}) and none succeeded: it refuses the "
            f"requests themselves, not single IDs; {self._check}",
            http_status=first.http_status,
        )
