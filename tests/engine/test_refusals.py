"""The refusal watch on its own: the first answers all refusing alike stop a run. Pure."""

from __future__ import annotations

import pytest

from batch.engine import Abort, Cause, Failure
from batch.engine._refusals import SAME_REFUSALS, RefusalWatch

UNKNOWN = Failure("http", "Worker not found", http_status=404, request_id="r-1")
REJECTED = Failure("http", "data.profile_id is not allowed", http_status=400)
CHECK = "check the base URL and the token"


def test_the_first_answers_all_the_same_refusal_stop_the_run() -> None:
    watch = RefusalWatch(CHECK)
    assert [watch.refused(UNKNOWN) for _ in range(SAME_REFUSALS - 1)] == [None] * 19
    assert watch.refused(UNKNOWN) == Abort(
        Cause.REFUSED,
        "the API refused each of the first 20 requests with HTTP 404 ('Worker not found') "
        "and none succeeded: it refuses the requests themselves, not single IDs; "
        "check the base URL and the token",
        http_status=404,
    )
    assert not watch.watching
    assert watch.refused(UNKNOWN) is None  # once: the engine has stopped the run


def test_twenty_is_the_documented_number() -> None:
    assert SAME_REFUSALS == 20


def test_messages_may_differ_when_the_status_is_the_same() -> None:
    """ "Worker not found" and "No active token" are one status: the first is quoted."""
    watch = RefusalWatch(CHECK, needed=3)
    other = Failure("http", "No active token for this worker", http_status=404)
    assert watch.refused(UNKNOWN) is None
    assert watch.refused(other) is None
    abort = watch.refused(other)
    assert abort is not None
    assert "('Worker not found')" in abort.message


@pytest.mark.parametrize("at", [0, 1, SAME_REFUSALS - 1])
def test_one_success_before_the_last_refusal_means_the_set_up_is_right(at: int) -> None:
    """A file where some IDs are unknown: 404s mixed with successes run to the end."""
    watch = RefusalWatch(CHECK)
    for _ in range(at):
        assert watch.refused(UNKNOWN) is None
    watch.succeeded()
    assert all(watch.refused(UNKNOWN) is None for _ in range(1000))


def test_refusals_that_differ_are_about_their_ids() -> None:
    watch = RefusalWatch(CHECK, needed=3)
    assert watch.refused(UNKNOWN) is None
    assert watch.refused(REJECTED) is None
    assert not watch.watching
    assert all(watch.refused(REJECTED) is None for _ in range(10))


def test_a_run_with_fewer_ids_than_the_watch_needs_is_never_stopped() -> None:
    watch = RefusalWatch(CHECK)
    assert all(watch.refused(UNKNOWN) is None for _ in range(SAME_REFUSALS - 1))
    assert watch.watching  # the run ends with each ID's record, exit 1
