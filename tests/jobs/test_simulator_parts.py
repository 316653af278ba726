"""The pure parts of the simulated API, tested directly with the time passed in: the rolling
window, the token lifecycle, the API versions, the idempotency cache, the fault picker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from jobs._simulator import SimulatorConfig
from jobs._simulator._idempotency import (
    Busy,
    Cached,
    Claim,
    IdempotencyCache,
    Policy,
    Replay,
    check_key,
)
from jobs._simulator._lifecycle import PRIOR_TOKEN, Lifecycle, WorkerTokens
from jobs._simulator._picker import FaultPicker
from jobs._simulator._versions import (
    Called,
    PublishedVersion,
    check,
    default_versions,
    headers,
    resolve,
)
from jobs._simulator._window import RollingWindow, capacity

W = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

# ---- the rolling window ----


def test_capacity_is_the_floor_of_the_rate_and_at_least_one() -> None:
    assert [capacity(r) for r in (5, 5.9, 0.5, 200)] == [5, 5, 1, 200]
    assert capacity(None) is None


def test_window_admits_its_limit_then_refuses_until_the_oldest_leaves() -> None:
    window = RollingWindow()
    assert [window.admit(t, 2) for t in (10.0, 10.4, 10.9)] == [True, True, False]
    assert len(window) == 2
    assert window.admit(11.0, 2)  # 10.0 left (10.0, 11.0]
    assert not window.admit(11.39, 2)  # 10.4 and 11.0 are still in it
    assert window.admit(11.4, 2)
    assert len(window) == 2


def test_a_refused_arrival_leaves_no_trace_and_no_limit_admits_all() -> None:
    window = RollingWindow()
    assert window.admit(0.0, 1)
    assert not any(window.admit(0.1 * n, 1) for n in range(1, 10))
    assert window.admit(1.0, 1)
    assert all(window.admit(2.0, None) for _ in range(50))
    assert len(window) == 50


# ---- the token lifecycle ----


def test_a_mint_replaces_the_active_token() -> None:
    life = Lifecycle()
    assert life.mint(W, "t1") is None
    assert life.mint(W, "t2") == "t1"
    assert life.workers[W] == WorkerTokens(issued=["t1", "t2"], active="t2")
    assert life.workers[W].replaced == ["t1"]


def test_revoke_ends_the_active_token_once() -> None:
    life = Lifecycle()
    life.mint(W, "t1")
    assert life.revoke(W, predate=False) == "t1"
    assert life.revoke(W, predate=False) is None
    assert life.revoke(W, predate=True) is None  # known here: nothing from before
    life.mint(W, "t2")
    assert life.revoke(W, predate=False) == "t2"
    assert life.workers[W] == WorkerTokens(issued=["t1", "t2"], active=None, revoked=["t1", "t2"])
    assert life.workers[W].replaced == []


def test_a_worker_never_seen_holds_a_token_from_before_only_if_told() -> None:
    life = Lifecycle()
    assert life.revoke(W, predate=False) is None
    assert life.workers == {}  # a miss leaves no record
    assert life.revoke(W, predate=True) == PRIOR_TOKEN
    assert life.revoke(W, predate=True) is None
    assert life.workers[W] == WorkerTokens(issued=[], active=None, revoked=[PRIOR_TOKEN])


def test_the_lifecycle_shares_its_records() -> None:
    shared: dict[str, WorkerTokens] = {}
    Lifecycle(shared).mint(W, "t1")
    assert shared[W].active == "t1"


# ---- versions ----


@dataclass
class Settings:
    versions: dict[str, PublishedVersion] = field(default_factory=default_versions)
    default_version: str = "2026-01-01"
    deprecated_since: dt.date | None = None
    sunset: dt.date | None = None


def test_the_default_is_deels_current_stable_version() -> None:
    assert default_versions() == {
        "2026-01-01": PublishedVersion("stable", deprecation=dt.date(2027, 1, 1))
    }
    called = resolve(None, None, Settings())
    assert called == Called("2026-01-01", "stable")
    # The expected deprecation is not announced in headers: only a real one is.
    assert headers(called) == {"X-Version": "2026-01-01", "X-Version-Status": "stable"}
    assert resolve(" 2026-01-01 ", None, Settings()) == called


@pytest.mark.parametrize("value", ["2025-01-01", "2026-1-1", "tomorrow", "", "2026-01-01x"])
def test_an_unpublished_or_malformed_version_is_a_400_message(value: str) -> None:
    message = resolve(value, None, Settings())
    assert isinstance(message, str)
    assert message.startswith("X-Version ")
    assert "does not match any published version" in message
    assert "2026-01-01" not in message.replace(value, "")  # no alternative is suggested


def test_a_long_bad_version_is_quoted_shortened() -> None:
    message = resolve("9" * 500, None, Settings())
    assert isinstance(message, str)
    assert len(message) < 120


def test_deprecated_since_makes_the_called_version_deprecated_for_a_year() -> None:
    settings = Settings(deprecated_since=dt.date(2027, 1, 1))
    called = resolve("2026-01-01", None, settings)
    assert called == Called("2026-01-01", "deprecated", dt.date(2027, 1, 1), dt.date(2028, 1, 1))
    assert isinstance(called, Called)
    assert headers(called) == {
        "X-Version": "2026-01-01",
        "X-Version-Status": "deprecated",
        "Deprecation": "@1798761600",  # RFC 9745: a structured-field date
        "Link": '<https://developer.deel.com/api/api-versioning>; rel="deprecation"',
        "Sunset": "Sat, 01 Jan 2028 00:00:00 GMT",  # RFC 8594: an HTTP-date
    }
    settings.sunset = dt.date(2027, 6, 30)
    called = resolve(None, None, settings)
    assert isinstance(called, Called)
    assert headers(called)["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"


def test_a_published_deprecated_version_and_a_beta_one() -> None:
    settings = Settings(
        versions={
            "2025-06-01": PublishedVersion(
                "deprecated", dt.date(2026, 1, 1), dt.date(2026, 12, 31)
            ),
            "2026-01-01": PublishedVersion(),
            "2026-04-01": PublishedVersion("beta"),
        }
    )
    old = resolve("2025-06-01", None, settings)
    assert old == Called("2025-06-01", "deprecated", dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert isinstance(old, Called)
    assert headers(old)["Deprecation"] == "@1767225600"
    assert resolve("2026-01-01", None, settings) == Called("2026-01-01", "stable")
    refused = resolve("2026-04-01", None, settings)
    assert isinstance(refused, str)
    assert "X-Beta: true" in refused
    assert resolve("2026-04-01", "true", settings) == Called("2026-04-01", "beta")
    assert resolve("2026-04-01", "TRUE ", settings) == Called("2026-04-01", "beta")


def test_a_leap_day_deprecation_sunsets_on_the_28th() -> None:
    called = resolve(None, None, Settings(deprecated_since=dt.date(2028, 2, 29)))
    assert isinstance(called, Called)
    assert called.sunset == dt.date(2029, 2, 28)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (Settings(default_version="2026-02-01"), "default version"),
        (Settings(versions={"v2": PublishedVersion()}, default_version="v2"), "not a date"),
        (Settings(versions={"2026-01-01": PublishedVersion("gone")}), "state"),
        (Settings(versions={"2026-01-01": PublishedVersion("deprecated")}), "since when"),
        (
            Settings(deprecated_since=dt.date(2027, 1, 1), sunset=dt.date(2026, 1, 1)),
            "before the deprecation",
        ),
    ],
)
def test_version_settings_that_cannot_be_served_are_refused(settings: Settings, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check(settings)


def test_the_config_checks_its_versions() -> None:
    with pytest.raises(ValueError, match="default version"):
        SimulatorConfig(default_version="2030-01-01")


# ---- idempotency ----

POLICY = Policy(ttl=86400.0, linger=120.0, busy_retry_after=1)


def cached(request_id: str = "req-1") -> Cached:
    return Cached(201, b'{"data": {}}', "application/json", request_id)


def test_key_lengths() -> None:
    assert check_key("k" * 64) is None
    assert check_key("a") is None
    message = check_key("k" * 65)
    assert message == "Idempotency-Key must be at most 64 characters (got 65)"
    assert check_key("") == "Idempotency-Key must not be empty"


def test_a_completed_answer_is_replayed_for_24_hours_exactly() -> None:
    cache = IdempotencyCache()
    claim = cache.begin("org", "k", b"body", 100.0, POLICY)
    assert isinstance(claim, Claim)
    cache.complete(claim, cached(), ready=100.5)
    assert cache.begin("org", "k", b"body", 100.2, POLICY) == Busy(1)  # answer not yet out
    assert cache.begin("org", "k", b"body", 100.5, POLICY) == Replay(cached(), same_request=True)
    assert cache.begin("org", "k", b"other", 86500.4, POLICY) == Replay(cached(), False)
    fresh = cache.begin("org", "k", b"body", 86500.5, POLICY)  # 24 h after it was ready
    assert isinstance(fresh, Claim)
    assert fresh is not claim


def test_keys_are_scoped_by_org_token() -> None:
    cache = IdempotencyCache()
    first = cache.begin("org-a", "k", b"", 0.0, POLICY)
    assert isinstance(first, Claim)
    cache.complete(first, cached(), ready=0.0)
    assert isinstance(cache.begin("org-b", "k", b"", 1.0, POLICY), Claim)
    assert isinstance(cache.begin("org-a", "k", b"", 1.0, POLICY), Replay)


def test_a_running_request_makes_repeats_busy_until_it_fails() -> None:
    cache = IdempotencyCache()
    claim = cache.begin("org", "k", b"", 0.0, POLICY)
    assert isinstance(claim, Claim)
    assert cache.begin("org", "k", b"", 50.0, POLICY) == Busy(1)
    assert cache.begin("org", "k", b"", 50.0, Policy(busy_retry_after=7)) == Busy(7)
    cache.release(claim)  # a 500: nothing is kept
    assert len(cache) == 0
    assert isinstance(cache.begin("org", "k", b"", 51.0, POLICY), Claim)


def test_an_abandoned_request_holds_its_key_two_minutes() -> None:
    cache = IdempotencyCache()
    claim = cache.begin("org", "k", b"", 0.0, POLICY)
    assert isinstance(claim, Claim)
    cache.abandon(claim, 10.0)
    assert cache.begin("org", "k", b"", 10.0, POLICY) == Busy(120)
    assert cache.begin("org", "k", b"", 129.5, POLICY) == Busy(1)
    assert cache.begin("org", "k", b"", 100.2, POLICY) == Busy(30)  # ceil(29.8)
    again = cache.begin("org", "k", b"", 130.0, POLICY)
    assert isinstance(again, Claim)
    # The old claim can no longer touch the key's new claim.
    cache.release(claim)
    cache.complete(claim, cached("old"), ready=131.0)
    assert cache.begin("org", "k", b"", 131.0, POLICY) == Busy(1)
    cache.complete(again, cached("new"), ready=131.0)
    assert cache.begin("org", "k", b"", 131.0, POLICY) == Replay(cached("new"), True)


def test_complete_after_abandon_and_release_after_complete_change_nothing() -> None:
    cache = IdempotencyCache()
    claim = cache.begin("org", "k", b"", 0.0, POLICY)
    assert isinstance(claim, Claim)
    cache.complete(claim, cached(), ready=1.0)
    cache.release(claim)
    cache.abandon(claim, 2.0)
    assert cache.begin("org", "k", b"", 2.0, POLICY) == Replay(cached(), True)


def test_expired_entries_are_swept() -> None:
    cache = IdempotencyCache()
    for n in range(1023):
        claim = cache.begin("org", f"k{n}", b"", 0.0, POLICY)
        assert isinstance(claim, Claim)
        cache.complete(claim, cached(), ready=0.0)
    assert len(cache) == 1023
    cache.begin("org", "last", b"", 90000.0, POLICY)  # the 1024th claim sweeps
    assert len(cache) == 1


# ---- the fault picker ----


def test_the_plan_is_followed_per_id_in_order_then_nothing() -> None:
    config = SimulatorConfig(plan={W: ["500", "drop"]})
    picker = FaultPicker(seed=None)
    other = "00000000-0000-0000-0000-000000000001"
    assert [picker.planned(config, W) for _ in range(3)] == ["500", "drop", None]
    assert picker.planned(config, other) is None


def test_random_faults_follow_the_seed_and_new_ones_come_last() -> None:
    config = SimulatorConfig(p_mint_then_reset=1.0)
    assert FaultPicker(seed=1).drawn(config) == "mint_then_reset"
    odds = SimulatorConfig(p_500=0.25, p_broken_chunked_201=0.25, p_mint_then_timeout=0.25)
    picker, again = FaultPicker(seed=3), FaultPicker(seed=3)
    sequence = [picker.drawn(odds) for _ in range(40)]
    assert sequence == [again.drawn(odds) for _ in range(40)]
    assert set(sequence) == {"500", "mint_then_timeout", "broken_chunked_201", None}
    assert FaultPicker(seed=3).drawn(SimulatorConfig()) is None
