"""What a run's answers say about the API as a whole, apart from each item's fate.

An attempt settles its item (the retry loop's business, in `batch.engine._engine`);
it also tells the run whether the API is up, failing or refusing the run's set-up, and
which API version answered. `ApiWatch` keeps that: the give-up clock
(`batch.engine._give_up`), the first refusals (`batch.engine._refusals`), whether the
API itself has answered yet, the host that never resolved, and the version's
deprecation, warned about once. It returns the `Abort` an attempt calls for; the engine
stops the run with it.
"""

from __future__ import annotations

from batch.engine._give_up import GiveUpClock
from batch.engine._judge import UNRESOLVED_LIMIT, fatal_abort
from batch.engine._log import Logger
from batch.engine._options import EngineOptions
from batch.engine._policy import Verdict
from batch.engine._refusals import RefusalWatch
from batch.engine._results import Abort
from batch.engine._stats import Stats
from batch.engine._transport import Endpoint, HostUnresolved
from batch.engine._types import Answer, ApiVersion, Failure, Job, Request, Response
from batch.engine._work import Attempt

__all__ = ["ApiWatch"]


class ApiWatch:
    """The run's view of the API, from every attempt's outcome (see the module)."""

    def __init__(
        self, job: Job, options: EngineOptions, endpoint: Endpoint, stats: Stats, log: Logger
    ) -> None:
        self._job = job
        self._options = options
        self._endpoint = endpoint
        self._stats = stats
        self._log = log
        #: how long nothing but transient failures came back (give_up_after)
        self._give_up = GiveUpClock(options.give_up_after)
        #: whether the first answers all refuse alike: the requests, not the keys
        self._refusals = RefusalWatch(
            f"check that the IDs belong to this API and account ({options.base_url_source}, "
            f"{options.token_source}), or whether the API changed"
        )
        #: whether the API itself has answered yet (see judge's api_seen)
        self.api_seen = False
        #: attempts whose host name did not resolve while the API had not answered yet
        self._unresolved = 0

    def answered(self, outcome: Response | Failure, attempt: Attempt) -> None:
        """Note who answered: the API itself (a success, or an answer in its own words),
        and what its answer says besides the body (a replay, the version)."""
        if isinstance(outcome, Response) and (
            attempt.verdict is Verdict.OK or self._job.speaks_api(outcome)
        ):
            self.api_seen = True
        if attempt.answer is not None:
            self._watch(attempt.answer)

    def heed(self, attempt: Attempt, now: float, request: Request) -> Abort | None:
        """What an attempt says about the API: up, failing, or refusing the run; the
        abort when the run must stop."""
        failure = attempt.failure
        if attempt.verdict is Verdict.OK or failure is None:
            self._give_up.answered()
            self._refusals.succeeded()
            return None
        if attempt.verdict is Verdict.FATAL:
            return fatal_abort(failure, self._job, self._options, self._endpoint.url(request))
        if attempt.in_progress:
            # The API is up and at work on this key: neither failing nor refusing the run.
            # It may hold a key minutes after its client left; that time is no failing time.
            self._stats.in_progress += 1
            self._give_up.answered()
            return None
        if attempt.verdict is Verdict.RETRY:
            if attempt.rate_limited:
                # Busy, not down; but a run that gets nothing else for give_up_after (the
                # quota taken by another run or integration) stops as for a failing API.
                self._stats.rate_limited += 1
            abort = self._give_up.failed(failure, now)
            if isinstance(failure, HostUnresolved) and not self.api_seen:
                # A name that never resolved is a wrong base URL (or no DNS), not a blip.
                self._unresolved += 1
                if self._unresolved >= UNRESOLVED_LIMIT:
                    url = self._endpoint.url(request)
                    abort = fatal_abort(failure, self._job, self._options, url)
            return abort
        self._give_up.answered()  # a permanent answer is still an answer
        return self._refusals.refused(failure)

    def _watch(self, answer: Answer) -> None:
        """A replay, and the API version that answered; the first answer that announces
        the version's end is warned about, once."""
        self._stats.replayed += answer.replayed
        version = answer.version
        if version is None:
            return
        self._stats.api_version = version
        if version.deprecated and self._stats.deprecation is None:
            self._stats.deprecation = version
            self._log.warning(
                "api_version_deprecated", **_deprecation_event(version, self._options)
            )


def _deprecation_event(version: ApiVersion, options: EngineOptions) -> dict[str, object]:
    """The ``api_version_deprecated`` event: the version, its dates, and what to do."""
    since, sunset = version.since_day, version.sunset_day
    name = version.name or "asked for"
    when = f" since {since}" if since else ""
    end = f"; it stops working on {sunset}" if sunset else ""
    return {
        "api_version": version.name or None,
        "deprecated_since": since,
        "sunset": sunset,
        "message": f"the API version {name} is deprecated{when}{end}: test a newer "
        f"version and set it with {options.api_version_source}",
    }
