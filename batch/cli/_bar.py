"""The progress bar's one line, fitted to the terminal: fields are dropped, never cut.

At 200 columns everything shows::

    ⠦ rows ━━━━━━━━━━╸━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 420/1,000  ok 400  failed 2  invalid 1  retries 11  429s 2  4.9/s  0:01:26  ETA 0:01:58

On a narrower terminal the graphic shrinks to `BAR_MIN` cells first, then whole
fields go, in `DROPPED_FIRST` order: the label, the elapsed time, 429s, retries,
the rate, the graphic, invalid rows, the spinner. ``done/total``, ``ok``,
``failed`` and the ETA always stay, with every digit: they are what a person
reads the bar for (80 columns: ``⠦ ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 42/100  ok 40
failed 2  4.0/s  ETA 0:00:12``).

The line stays `MARGIN` columns short of the terminal's width: Ctrl-C makes the
terminal echo ``^C`` after it, and a line that filled the width would wrap there,
leaving a stale copy of the bar above the next line written.

`fit` is pure (a `Snapshot` and a width in, the line's parts out);
`batch.cli._live_bar.LineColumn` is the rich column that draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BAR_MAX",
    "BAR_MIN",
    "DROPPED_FIRST",
    "MARGIN",
    "Fitted",
    "Snapshot",
    "clock",
    "fit",
]

#: columns left free at the end of the line (for the ``^C`` a terminal echoes)
MARGIN = 3
#: the graphic's width: as wide as this when there is room, never narrower than BAR_MIN
BAR_MAX, BAR_MIN = 40, 10
#: what goes when the line is too long, first to last; the rest is never dropped
DROPPED_FIRST = ("label", "elapsed", "429s", "retries", "rate", "bar", "invalid", "spinner")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the bar shows at one moment."""

    done: int
    total: int | None
    ok: int
    failed: int
    invalid: int = 0
    retries: int = 0
    rate_limited: int = 0
    #: requests per second, lately
    rate: float = 0.0
    elapsed_s: float | None = None
    #: None: not known yet (no speed measured, or no total)
    eta_s: float | None = None
    spinner: str = " "


@dataclass(frozen=True, slots=True)
class Fitted:
    """The line: ``head`` (spinner, label), a graphic of ``bar`` cells (0: none), ``fields``."""

    head: tuple[str, ...]
    bar: int
    fields: tuple[str, ...]

    def text(self) -> str:
        """The line as plain text (the graphic drawn as ``━``)."""
        return _join(self.head, "━" * self.bar, self.fields)


def fit(snap: Snapshot, width: int) -> Fitted:
    """The fields of ``snap`` that fit ``width`` columns (less `MARGIN`), in their order."""
    budget = width - MARGIN
    parts = _parts(snap)
    kept = set(parts)
    if snap.total is not None:
        kept.add("bar")
    for name in DROPPED_FIRST:
        if _length(parts, kept, BAR_MIN) <= budget:
            break
        kept.discard(name)
    bar = 0
    if "bar" in kept:  # as wide as the room left, up to BAR_MAX
        bar = min(BAR_MAX, BAR_MIN + budget - _length(parts, kept, BAR_MIN))
    return _fitted(parts, kept, bar)


def _parts(snap: Snapshot) -> dict[str, str]:
    """Every field the snapshot has, by name, in the order they show."""
    total = "?" if snap.total is None else f"{snap.total:,}"
    parts = {"spinner": snap.spinner, "label": "rows", "done": f"{snap.done:,}/{total}"}
    parts["ok"] = f"ok {snap.ok:,}"
    parts["failed"] = f"failed {snap.failed:,}"
    if snap.invalid:
        parts["invalid"] = f"invalid {snap.invalid:,}"
    if snap.retries:
        parts["retries"] = f"retries {snap.retries:,}"
    if snap.rate_limited:
        parts["429s"] = f"429s {snap.rate_limited:,}"
    parts["rate"] = f"{snap.rate:.1f}/s"
    if snap.elapsed_s is not None:
        parts["elapsed"] = clock(snap.elapsed_s)
    if snap.total is not None:  # without a total, there is no ETA to give
        parts["eta"] = "ETA " + ("-:--:--" if snap.eta_s is None else clock(snap.eta_s))
    return parts


_HEAD = ("spinner", "label")


def _fitted(parts: dict[str, str], kept: set[str], bar: int) -> Fitted:
    head = tuple(parts[name] for name in _HEAD if name in kept)
    fields = tuple(text for name, text in parts.items() if name in kept and name not in _HEAD)
    return Fitted(head, bar, fields)


def _length(parts: dict[str, str], kept: set[str], bar: int) -> int:
    return len(_fitted(parts, kept, bar if "bar" in kept else 0).text())


def _join(head: tuple[str, ...], bar: str, fields: tuple[str, ...]) -> str:
    left = " ".join(piece for piece in (*head, bar) if piece)
    right = "  ".join(fields)
    return f"{left} {right}" if left else right


def clock(seconds: float) -> str:
    """``0:04:05``, as rich writes a time."""
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
