"""How fast to go beside other clients of the same quota: a pure state machine on given time.

The API sends no rate-limit headers, and another client's refused calls are never seen. What a
run does see: which of its own starts were refused, and how many of the starts in the window
just before a refused one were accepted (the room that window had left). The rules:

- **Hold there.** A refused start (at most one judged per window) cuts the level to what its
  window accepted, never lower (nor below the floor).
- **Climb back quickly to what is known.** After a second with no refusal the level doubles
  every second, up to ``known``.
- **What is known comes down on evidence of another client.** Every `Tuning.gap_every` seconds
  the window is left one start short for one window, a *listening gap*; the first start after
  it that fills the window again (the *reclaim*) takes the slot back. If another client took
  the slot, the reclaim is refused: ``known`` drops to what that window accepted. It also
  steps down one when more than `Tuning.tolerate` of the recent starts are refused (not while
  nearly all are: beside a client that never yields, yielding gains nothing). A gap refused no
  more often than random 429s explain is not counted as taken.
- **Back to what held, once the trouble is over.** After `Tuning.restore_after` seconds with
  no refusal at all, ``known`` returns to ``held``, the level that held before the trouble
  began: a collision with a run that does not share the window, a store outage, a burst of
  429s are over within seconds of their cause. Beside a client that stays, the restore fails;
  each failure doubles the quiet time the next one waits for, and lowers ``held`` by one.
- **Probe upward slowly and rarely.** At ``known``, after ``need`` quiet gaps in a row
  ``known`` steps up one request per window; a step that does not hold makes the next one wait
  twice as long.

The state is a few numbers (`ControlState`), so a shared store keeps one for all the runs
that share a window.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields, replace

__all__ = ["STATE_FIELDS", "ControlState", "Controller", "Tuning", "ceiling_for"]

#: The window the API counts starts in, seconds.
WINDOW = 1.0
#: The recent starts whose refused share the caller passes as ``noise``.
NOISE_SAMPLE = 50
#: How many of the latest gaps `ControlState.taken` remembers (as bits).
GAP_MEMORY = 8


@dataclass(frozen=True, slots=True)
class Tuning:
    """The controller's constants (tests and the bench may change them)."""

    #: whether to leave listening gaps at all (the window tests go without)
    listen: bool = True
    #: the lowest rate (or the ceiling, if lower): one request every two seconds
    floor: float = 0.5
    #: seconds between listening gaps: at most, and right after a gap was taken (and at first)
    gap_every: float = 5.0
    listen_every: float = 2.0
    #: quiet gaps in a row before the first step up (eight minutes at one gap per 5 s)
    probe_after: int = 96
    #: the longest wait for a step up, in gaps
    probe_max: int = 768
    #: a step up that is cut back within this many gaps did not hold
    probe_within: int = 8
    #: a refused share of recent starts above this lowers ``known`` ...
    tolerate: float = 0.15
    #: ... unless it is above this: nearly everything refused, by a client that never yields
    busy: float = 0.5
    #: after a cut, seconds with no refusal before the level climbs again
    hold: float = 1.0
    #: then it doubles every this many seconds
    double: float = 1.0
    #: seconds with no refusal before ``known`` returns to ``held`` (doubles on each failure)
    restore_after: float = 8.0
    #: the longest such wait
    restore_max: float = 512.0
    #: a restore followed by a refused gap or share within this many seconds failed; one that
    #: lasts as long again halves the wait back
    restore_within: float = 60.0


DEFAULT = Tuning()


@dataclass(slots=True)
class ControlState:
    """What the controller remembers: plain floats, so a store can keep it as a fixed record."""

    #: the level after the last cut, and when it was cut (-inf: never)
    level: float
    cut_at: float
    #: the level that holds: climbs stop there
    known: float
    #: the level that held before the trouble began: restores go back there
    held: float
    #: the last refusal of any kind (-inf: none), and the last time ``known`` came down
    refused_at: float
    lowered_at: float
    #: quiet seconds a restore waits for, and when the last one happened (-inf: none)
    restore_wait: float
    restored_at: float
    #: quiet gaps needed before ``known`` steps up, and quiet gaps in a row at ``known``
    need: float
    quiet: float
    #: gaps since ``known`` last stepped up (-1: not counting)
    since_up: float
    #: the last gaps' answers as bits, newest lowest (1: taken)
    taken: float
    #: 1.0 once the limit is known (documented, or what held after the first refused windows)
    learned: float
    #: seconds between listening gaps now: shorter while other clients take them
    gap_every: float

    @classmethod
    def fresh(cls, level: float, *, learned: bool, tuning: Tuning = DEFAULT) -> ControlState:
        inf = -math.inf
        return cls(
            level, inf, level, level, inf, inf, tuning.restore_after, inf,
            tuning.probe_after, 0, -1, 0, float(learned), tuning.listen_every,
        )  # fmt: skip

    def as_tuple(self) -> tuple[float, ...]:
        return astuple(self)

    def shifted(self, by: float) -> ControlState:
        """The same state on a clock ``by`` seconds ahead (a store's, a run's)."""
        state = replace(self)
        for name in ("cut_at", "refused_at", "lowered_at", "restored_at"):
            setattr(state, name, getattr(self, name) + by)  # -inf stays -inf
        return state

    @classmethod
    def from_tuple(cls, values: tuple[float, ...]) -> ControlState:
        return cls(*values)


#: How many floats a `ControlState` packs into.
STATE_FIELDS = len(fields(ControlState))


def ceiling_for(rate: float, limit: float | None, reserve: float) -> float:
    """The most a run may send: ``rate``, less ``reserve`` kept for other clients.

    ``limit`` is the API's documented limit: the reserve comes off it; when it is unknown
    (None), off ``rate``. ValueError (one line) when the reserve leaves nothing.
    """
    if not (math.isfinite(reserve) and reserve >= 0):
        raise ValueError(f"the reserve must be a number >= 0, not {reserve!r}")
    if reserve == 0:
        return rate
    room = (limit if limit is not None else rate) - reserve
    if room <= 0:
        of = f"the limit of {limit:g}/s" if limit is not None else f"the rate of {rate:g}/s"
        raise ValueError(f"a reserve of {reserve:g}/s leaves nothing of {of}")
    return min(rate, room)


class Controller:
    """The rate a run may use now, from what the window told it. Time is passed in."""

    def __init__(
        self, ceiling: float, *, limit: float | None = None, tuning: Tuning = DEFAULT
    ) -> None:
        if not (ceiling > 0 and math.isfinite(ceiling)):
            raise ValueError("rate must be > 0")
        self.ceiling = ceiling
        self.tuning = tuning
        self.floor = min(tuning.floor, ceiling)
        self.limit = limit
        # At the rate asked for; above the documented limit (or with none), the first refused
        # windows say what holds.
        learned = limit is not None and ceiling <= limit
        #: what learning the limit never goes below: the documented limit (or the floor)
        self._documented = min(ceiling, limit) if limit is not None else self.floor
        self.state = ControlState.fresh(ceiling, learned=learned, tuning=tuning)

    def copy(self, state: ControlState) -> Controller:
        """This controller's rules (ceiling, limit, tuning) on ``state``."""
        other = Controller(self.ceiling, limit=self.limit, tuning=self.tuning)
        other.state = replace(state)
        return other

    def known(self, now: float) -> float:
        """``known``, or ``held`` once a restore is due."""
        s = self.state
        if s.known < s.held and now - s.refused_at >= s.restore_wait:
            return s.held
        return s.known

    def rate(self, now: float) -> float:
        s, t = self.state, self.tuning
        level = s.level
        climbing = now - s.cut_at - t.hold
        if climbing > 0:
            level *= 2.0 ** min(climbing / t.double, 32.0)
        return max(self.floor, min(self.ceiling, self.known(now), level))

    # -- the listening gaps -------------------------------------------------------
    def gap(self, now: float, window: float) -> tuple[float, bool] | None:
        """(when this gap period began, whether ``now`` is inside its gap of ``window``), or
        None when not listening.

        A run listens near the limit (for newcomers) and below what it may use (for whether
        the others still need the room); a run told to go well below the limit alone does not.
        """
        if not self.tuning.listen:
            return None
        near = self.rate(now) > (self.limit if self.limit is not None else self.ceiling) - 1
        if not (near or self.known(now) < self.ceiling):
            return None
        every = self.state.gap_every
        began = math.floor(now / every) * every
        return began, now - began < window

    # -- what the window said -------------------------------------------------------
    def answer(  # noqa: PLR0913 - keyword-only: each is one fact about the answer
        self,
        now: float,
        *,
        started: float,
        refused: bool,
        accepted: int,
        noise: float,
        reclaim: bool = False,
    ) -> str | None:
        """Feed back one answer that matters: every refused one, and every reclaim's.

        ``accepted``: starts (of every run sharing the window) accepted in the window before
        ``started``; ``noise``: the refused share of the latest `NOISE_SAMPLE` starts, this one
        included (as a share of `NOISE_SAMPLE`, however few there were). Returns why the rate
        changed, if it did.
        """
        before = self.rate(now)
        self._settle(now)
        reason = None
        if reclaim and noise <= self.tuning.busy:
            reason = self._gap_answer(now, refused, accepted, noise, before)
        if refused:
            cut = self._refused(now, started, accepted, noise, before)
            reason = reason or cut  # a taken gap says more than the cut it also makes
            self.state.refused_at = now
        return reason if self.rate(now) != before else None

    def _settle(self, now: float) -> None:
        """Make a due restore part of the state (`known` computed it on the fly so far)."""
        s, t = self.state, self.tuning
        if not s.learned and now - s.refused_at >= t.restore_after and s.refused_at > -math.inf:
            s.learned = 1.0  # the limit: what held since the last refused window
        if s.known < s.held and now - s.refused_at >= s.restore_wait:
            s.known, s.restored_at = s.held, s.refused_at + s.restore_wait
        if s.restored_at > -math.inf and now - s.restored_at >= t.restore_within:
            s.restore_wait = max(t.restore_after, s.restore_wait / 2)
            s.restored_at = -math.inf  # it held

    def _gap_answer(
        self, now: float, refused: bool, accepted: int, noise: float, before: float
    ) -> str | None:
        s, t = self.state, self.tuning
        taken = ((int(s.taken) << 1) | refused) & ((1 << GAP_MEMORY) - 1)
        s.taken = taken
        s.gap_every = t.listen_every if refused else min(t.gap_every, 2 * s.gap_every)
        if refused:
            # Taken, unless no more gaps were refused lately than random 429s explain (above
            # `tolerate`, the refusals are not random: they are the other client's doing).
            random_429s = 0.02 < noise <= t.tolerate
            explained = math.floor(GAP_MEMORY * noise) + 1 if random_429s else 0
            if taken.bit_count() > explained:
                self._lower_known(now, accepted)
                if noise <= t.tolerate / 3:
                    # Few refusals besides: a client that stays, not a collision that passes.
                    s.held = s.known
                return "other_integration"
            return None
        if before < s.known:
            return None  # still climbing back: this gap says nothing about ``known``
        s.quiet += 1
        if s.since_up >= 0:
            s.since_up += 1
            if s.since_up >= t.probe_within:
                s.need = max(t.probe_after, s.need / 2)
                s.since_up = -1
        if s.quiet >= s.need and s.known < self.ceiling:
            s.known = s.held = min(self.ceiling, math.floor(s.known) + 1)
            s.quiet = 0
            s.since_up = 0
            return "probing"
        return None

    def _refused(
        self, now: float, started: float, accepted: int, noise: float, before: float
    ) -> str | None:
        s, t = self.state, self.tuning
        if started < s.cut_at or now < s.cut_at + WINDOW:
            return None  # in flight before the last cut, or this window was judged already
        s.level, s.cut_at = max(self.floor, min(before, accepted)), now
        if (not s.learned and noise > t.tolerate) or 0 <= s.since_up < t.probe_within:
            # The limit is being learned (above the documented one: every refused window
            # while more are refused than chance explains, until a quiet spell), or a step up
            # did not hold: the window's room is what holds. Learning never goes below the
            # documented limit (a window another client filled is not the API's limit; the
            # listening gaps and the restores deal with such a client).
            self._lower_known(now, accepted if s.learned else max(accepted, self._documented))
            if not s.learned:
                s.held = s.known
        elif t.tolerate < noise <= t.busy:
            # Refused too often for chance: one step down (not below what the window accepted).
            self._lower_known(now, max(accepted, math.ceil(min(s.known, before)) - 1))
        return "rate_limited"

    def _lower_known(self, now: float, to: float) -> None:
        s, t = self.state, self.tuning
        if now - s.lowered_at >= t.restore_within and s.restored_at == -math.inf:
            s.held = max(s.held, s.known)  # the trouble begins: what held until now
        failed = now - s.restored_at < t.restore_within
        s.known = max(self.floor, min(s.known, to))
        if failed:
            # The restore did not hold: another client stays. The next waits twice as long,
            # for one lower.
            s.held = max(s.known, s.held - 1)
            s.restore_wait = min(t.restore_max, 2 * s.restore_wait)
            s.restored_at = -math.inf
        s.lowered_at = now
        s.quiet = 0
        if 0 <= s.since_up < t.probe_within:
            s.need = min(t.probe_max, 2 * s.need)
        s.since_up = -1
