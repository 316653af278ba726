"""The controller's decisions, as a pure state machine on given time, with exact assertions."""

from __future__ import annotations

import math

import pytest

from batch.engine._controller import (
    STATE_FIELDS,
    Controller,
    ControlState,
    Tuning,
    ceiling_for,
)


def refused(ctl: Controller, now: float, accepted: int, *, started: float | None = None,
            noise: float = 0.02) -> str | None:  # fmt: skip
    return ctl.answer(
        now, started=now if started is None else started, refused=True, accepted=accepted,
        noise=noise,
    )  # fmt: skip


def gap(ctl: Controller, now: float, *, taken: bool, accepted: int = 4, noise: float = 0.0) -> str | None:  # fmt: skip
    return ctl.answer(now, started=now, refused=taken, accepted=accepted, noise=noise, reclaim=True)


# -- the ceiling ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "limit", "reserve", "ceiling"),
    [
        (5, 5, 0, 5),  # the default
        (200, 5, 0, 200),  # starts at the limit, may probe above it
        (5, 5, 1, 4),  # a reserve comes off the limit
        (200, 5, 1.5, 3.5),
        (3, 5, 1, 3),  # a rate below the limit less the reserve stays as it is
        (10, None, 2, 8),  # no documented limit: off the rate
    ],
)
def test_the_ceiling_is_the_rate_less_the_reserve_of_the_limit(
    rate: float, limit: float | None, reserve: float, ceiling: float
) -> None:
    assert ceiling_for(rate, limit, reserve) == ceiling


@pytest.mark.parametrize(
    ("limit", "reserve", "message"),
    [
        (5, 5, "a reserve of 5/s leaves nothing of the limit of 5/s"),
        (None, 7, "a reserve of 7/s leaves nothing of the rate of 5/s"),
        (5, -1, "the reserve must be a number >= 0, not -1"),
        (5, math.nan, "the reserve must be a number >= 0, not nan"),
    ],
)
def test_a_reserve_that_leaves_nothing_is_refused(
    limit: float | None, reserve: float, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        ceiling_for(5, limit, reserve)


# -- hold there, climb back --------------------------------------------------------


def test_a_refused_window_cuts_to_what_it_accepted_never_lower() -> None:
    ctl = Controller(5, limit=5)
    assert ctl.rate(10.0) == 5
    assert refused(ctl, 10.0, accepted=3) == "rate_limited"
    assert ctl.rate(10.0) == 3  # the room that window had
    # A second refusal in the same window, or of a request in flight before the cut, is
    # not judged again.
    assert refused(ctl, 10.5, accepted=1) is None
    assert refused(ctl, 11.2, accepted=1, started=9.9) is None
    assert ctl.rate(11.0) == 3
    # Accepted nothing: the floor, one request every two seconds.
    assert refused(ctl, 11.2, accepted=0) == "rate_limited"
    assert ctl.rate(11.2) == 0.5


def test_after_a_second_with_no_refusal_the_rate_doubles_every_second_up_to_known() -> None:
    ctl = Controller(5, limit=5)
    refused(ctl, 10.0, accepted=1)
    rates = [ctl.rate(10.0 + dt) for dt in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)]
    assert rates == pytest.approx([1, 1, 1, math.sqrt(2), 2, 2 * math.sqrt(2), 4, 5])


def test_the_rate_never_goes_above_the_ceiling_nor_below_the_floor() -> None:
    ctl = Controller(0.3)  # a --rate below the floor: the floor is the rate itself
    assert ctl.rate(0.0) == 0.3
    refused(ctl, 1.0, accepted=0)
    assert ctl.rate(1.0) == 0.3
    above = Controller(200, limit=5)  # above the documented limit: learns what holds
    assert (above.rate(0.0), above.state.learned) == (200, 0.0)
    assert Controller(3, limit=5).rate(0.0) == 3


def test_learning_above_the_documented_limit_never_goes_below_it() -> None:
    # --rate 1000 against 5/s while another client takes the whole window (every start
    # refused, nothing accepted): the level drops to the floor, what is known stays at the
    # documented limit, so the rate is back there 4.3 s after the last refusal (before: known
    # and held were learned as the floor, and the run, and the next, crawled at 0.5/s).
    ctl = Controller(1000, limit=5)
    for n in range(5):
        refused(ctl, 1.0 + 1.01 * n, accepted=0, noise=0.5)
    last = 1.0 + 1.01 * 4
    assert (ctl.state.known, ctl.state.held, ctl.rate(last)) == (5, 5, 0.5)
    assert [ctl.rate(last + dt) for dt in (1.0, 2.0, 3.0, 4.0, 4.33)] == pytest.approx(
        [0.5, 1, 2, 4, 5], abs=0.01
    )
    # What a window above the limit accepted is learned, as before.
    ctl = Controller(1000, limit=5)
    refused(ctl, 1.0, accepted=8, noise=0.3)
    assert (ctl.state.known, ctl.state.held) == (8, 8)


# -- what is known ---------------------------------------------------------------------


def test_a_taken_gap_lowers_what_is_known_and_a_quiet_one_does_not() -> None:
    ctl = Controller(5, limit=5)
    assert gap(ctl, 5.0, taken=False) is None
    assert gap(ctl, 10.0, taken=True, accepted=4) == "other_integration"
    assert (ctl.state.known, ctl.state.held, ctl.rate(10.0)) == (4, 4, 4)
    # Known, not a cut of the moment: the rate does not climb past it after the hold.
    assert ctl.rate(20.0) == 4


def test_a_taken_gap_is_not_counted_when_random_429s_explain_it() -> None:
    ctl = Controller(5, limit=5)
    # 5% of the latest starts refused at random: one taken gap in eight is what that gives.
    # (The refusal itself is held to, as any: the level, not what is known.)
    assert gap(ctl, 5.0, taken=True, noise=0.05) == "rate_limited"
    assert (ctl.state.known, ctl.rate(5.0)) == (5, 4)
    # A second one within the last eight gaps is more than chance.
    for at in (10.0, 15.0, 20.0):
        gap(ctl, at, taken=False, noise=0.05)
    assert gap(ctl, 25.0, taken=True, noise=0.05) == "other_integration"
    assert ctl.state.known == 4
    # Above `tolerate`, refusals are not random: a gap taken then always counts.
    ctl = Controller(5, limit=5)
    assert gap(ctl, 5.0, taken=True, noise=0.2) == "other_integration"


def test_refused_too_often_steps_what_is_known_down_one_but_not_when_nearly_all_are() -> None:
    ctl = Controller(5, limit=5)
    refused(ctl, 10.0, accepted=4, noise=0.16)  # 8 of the last 50 refused: more than 15%
    assert ctl.state.known == 4
    refused(ctl, 11.0, accepted=0, noise=0.18)
    assert ctl.state.known == 3  # one step at a time, though the window accepted nothing
    ctl = Controller(5, limit=5)
    refused(ctl, 10.0, accepted=0, noise=0.6)  # a client that never yields: yielding gains nothing
    assert (ctl.state.known, ctl.rate(10.0)) == (5, 0.5)


def test_after_eight_quiet_seconds_what_held_before_the_trouble_is_back() -> None:
    # A collision: another run that does not share the window refuses most starts for a
    # while. Then nothing: 8 s later the rate climbs back to what held before.
    ctl = Controller(5, limit=5)
    for second in range(10):
        refused(ctl, 10.0 + second, accepted=1, noise=0.2)
    assert (ctl.state.known, ctl.state.held) == (1, 5)
    last = 19.0
    assert ctl.rate(last + 7.9) == 1
    assert ctl.rate(last + 8.0) == 5  # known is back; the level has climbed meanwhile
    # The restore becomes part of the state with the next answer.
    gap(ctl, last + 9.0, taken=False)
    assert (ctl.state.known, ctl.state.restored_at) == (5, last + 8.0)


def test_a_restore_that_does_not_hold_goes_one_lower_and_the_next_waits_twice_as_long() -> None:  # fmt: skip
    ctl = Controller(5, limit=5)
    refused(ctl, 10.0, accepted=1, noise=0.2)
    refused(ctl, 11.0, accepted=3, noise=0.2)
    assert (ctl.state.known, ctl.state.held) == (3, 5)
    assert ctl.rate(19.0) == 5  # restored
    refused(ctl, 20.0, accepted=3, noise=0.2)  # and the other client is still there
    assert (ctl.state.known, ctl.state.held, ctl.state.restore_wait) == (4, 4, 16.0)
    refused(ctl, 21.0, accepted=3, noise=0.2)
    assert ctl.state.known == 3
    assert (ctl.rate(36.9), ctl.rate(37.0)) == (3, 4)  # 16 quiet seconds, back to 4


def test_a_restore_that_holds_a_minute_keeps_the_next_one_as_quick() -> None:
    ctl = Controller(5, limit=5)
    refused(ctl, 10.0, accepted=2, noise=0.2)
    gap(ctl, 80.0, taken=False)  # restored at 18, quiet since
    assert (ctl.state.restored_at, ctl.state.restore_wait) == (-math.inf, 8.0)
    refused(ctl, 100.0, accepted=2, noise=0.2)
    assert (ctl.state.known, ctl.state.held) == (4, 5)  # a new episode, restorable again


# -- probing ----------------------------------------------------------------------------


def test_what_is_known_steps_up_after_quiet_gaps_and_a_step_that_fails_waits_twice_as_long() -> None:  # fmt: skip
    tuning = Tuning(probe_after=3, probe_within=2)
    ctl = Controller(5, limit=5, tuning=tuning)
    gap(ctl, 5.0, taken=True, accepted=3)
    assert ctl.state.known == 3
    reasons = [gap(ctl, 5.0 + 5 * i, taken=False) for i in range(1, 4)]
    assert reasons == [None, None, "probing"]
    assert (ctl.state.known, ctl.state.held) == (4, 4)
    # The step is cut back at once: the next waits for six quiet gaps, not three.
    gap(ctl, 25.0, taken=True, accepted=3)
    assert (ctl.state.known, ctl.state.need) == (3, 6)
    steps = [gap(ctl, 25.0 + 5 * i, taken=False) for i in range(1, 7)]
    assert steps == [None] * 5 + ["probing"]
    # This one holds for two gaps: the wait halves back (not below probe_after).
    gap(ctl, 60.0, taken=False)
    gap(ctl, 65.0, taken=False)
    assert ctl.state.need == 3


def test_no_probe_above_the_ceiling_and_none_while_climbing_back() -> None:
    ctl = Controller(5, limit=5, tuning=Tuning(probe_after=1))
    assert gap(ctl, 5.0, taken=False) is None  # at the ceiling already
    assert (ctl.state.known, ctl.state.quiet) == (5, 1)
    refused(ctl, 10.0, accepted=1)  # the level is cut, known stays 5
    assert gap(ctl, 10.5, taken=False) is None
    assert ctl.state.quiet == 1  # gaps while climbing back say nothing about known


def test_with_no_documented_limit_the_refused_windows_until_a_quiet_spell_are_what_holds() -> None:  # fmt: skip
    ctl = Controller(1000)  # told 1000/s, nothing documented
    assert ctl.rate(0.0) == 1000
    refused(ctl, 0.1, accepted=8, noise=0.04)  # as many 429s as chance gives: held to only
    assert ctl.state.known == 1000
    refused(ctl, 1.2, accepted=7, noise=0.16)  # a first burst's answers in flight: "accepted"
    refused(ctl, 2.5, accepted=5, noise=0.18)
    assert (ctl.state.known, ctl.state.held, ctl.state.learned) == (5, 5, 0.0)
    gap(ctl, 10.5, taken=False)  # eight quiet seconds: that is the limit
    assert (ctl.state.learned, ctl.rate(100.0)) == (1.0, 5)
    refused(ctl, 101.0, accepted=4)  # from now on, one refused window is held to, not known
    assert ctl.state.known == 5


# -- the listening gaps -------------------------------------------------------------------


def test_gaps_near_the_limit_and_below_what_may_be_used_not_well_below_the_limit() -> None:
    assert Controller(5, limit=5).gap(7.3, 1.01) == (6.0, False)  # every 2 s at first
    assert Controller(5, limit=5).gap(8.5, 1.01) == (8.0, True)
    assert Controller(2.9, limit=5).gap(8.5, 1.01) is None  # told to go slower: nothing to hear
    pushed = Controller(5, limit=5)
    gap(pushed, 10.0, taken=True, accepted=1)
    assert pushed.rate(10.0) == 1
    assert pushed.gap(10.5, 1.01) == (10.0, True)  # pushed down: listens on
    assert Controller(5, limit=5, tuning=Tuning(listen=False)).gap(8.5, 1.01) is None


def test_gaps_come_every_two_seconds_while_taken_and_stretch_to_five_when_not() -> None:
    ctl = Controller(5, limit=5)
    everies = []
    for at, taken in ((2.0, False), (4.0, False), (8.0, False), (12.0, True), (14.0, False)):
        gap(ctl, at, taken=taken)
        everies.append(ctl.state.gap_every)
    assert everies == [4.0, 5.0, 5.0, 2.0, 4.0]


# -- the state as a store keeps it ----------------------------------------------------------


def test_the_state_is_a_fixed_record_of_floats_on_any_clock() -> None:
    ctl = Controller(5, limit=5)
    refused(ctl, 10.0, accepted=2, noise=0.2)
    values = ctl.state.as_tuple()
    assert len(values) == STATE_FIELDS == 14
    assert all(isinstance(v, float | int) for v in values)
    assert ControlState.from_tuple(values) == ctl.state
    on_a_store = ctl.state.shifted(1000.0)
    assert (on_a_store.cut_at, on_a_store.refused_at, on_a_store.restored_at) == (
        1010.0, 1010.0, -math.inf,
    )  # fmt: skip
    other = ctl.copy(on_a_store)
    assert (other.ceiling, other.limit, other.rate(1010.0)) == (5, 5, 2)
    assert ctl.rate(10.0) == 2  # the copy is another controller
