"""Fitting a terminal, without one: the bar's fields, text wrapped between words, the
summary's resume command on a line of its own (the pty tests show the same on a screen)."""

from __future__ import annotations

import io
import re
import sys
from unittest import mock

import pytest

from batch.cli._bar import BAR_MAX, BAR_MIN, DROPPED_FIRST, MARGIN, Snapshot, fit
from batch.cli._console import STAMP_WIDTH, PeopleRenderer
from batch.cli._outcome import RunOutcome
from batch.cli._screen import terminal_width, wrap
from batch.cli._summary import print_summary
from batch.engine import QuietLogger, Stats
from tests.cli.test_steps import settings_for

BUSY = Snapshot(
    done=42, total=100, ok=40, failed=2, invalid=1, retries=11, rate_limited=2, rate=4.0,
    elapsed_s=10, eta_s=12, spinner="⠦",
)  # fmt: skip
HUGE = Snapshot(
    done=1_234_567, total=2_000_000, ok=1_234_000, failed=567, invalid=12, retries=99_999,
    rate_limited=5_000, rate=4.95, elapsed_s=250_000, eta_s=150_000, spinner="⠦",
)  # fmt: skip
ALL = ("spinner", "label", "bar", "done", "ok", "failed", "invalid", "retries", "429s",
       "rate", "elapsed", "eta")  # fmt: skip


def shown(snap: Snapshot, width: int) -> str:
    return fit(snap, width).text()


# -- the bar ------------------------------------------------------------------------------


def test_at_200_columns_the_bar_shows_everything() -> None:
    assert shown(BUSY, 200) == (
        "⠦ rows " + "━" * BAR_MAX + " 42/100  ok 40  failed 2  invalid 1  retries 11  429s 2  "
        "4.0/s  0:00:10  ETA 0:00:12"
    )


def test_at_80_columns_fields_go_whole_and_the_numbers_stay() -> None:
    line = shown(BUSY, 80)
    assert line == "⠦ " + "━" * 20 + " 42/100  ok 40  failed 2  invalid 1  4.0/s  ETA 0:00:12"
    assert len(line) <= 80 - MARGIN


@pytest.mark.parametrize("width", range(67, 201, 7))  # 67: room for HUGE's essentials
@pytest.mark.parametrize("snap", [BUSY, HUGE], ids=["busy", "huge"])
def test_what_goes_goes_in_order_and_what_stays_is_whole(snap: Snapshot, width: int) -> None:
    fitted = fit(snap, width)
    line = fitted.text()
    assert len(line) <= width - MARGIN, line
    for whole in (f"{snap.done:,}/{snap.total:,}", f"ok {snap.ok:,}", f"failed {snap.failed:,}"):
        assert f" {whole}  " in f" {line} ", line
    assert re.search(r"  ETA \d+:\d\d:\d\d$", line), line
    # The fields missing are the first ones of DROPPED_FIRST, in that order.
    present = {name for name in DROPPED_FIRST if _shows(name, fitted.text(), snap)}
    gone = [name for name in DROPPED_FIRST if name not in present]
    assert gone == list(DROPPED_FIRST[: len(gone)]), (gone, line)
    assert fitted.bar == 0 or BAR_MIN <= fitted.bar <= BAR_MAX


def _shows(name: str, line: str, snap: Snapshot) -> bool:
    return {
        "label": " rows " in f" {line} ",
        "elapsed": bool(re.search(r"  \d+:\d\d:\d\d  ETA", line)),
        "429s": "  429s " in line,
        "retries": "  retries " in line,
        "rate": "/s  " in line,
        "bar": "━" in line,
        "invalid": "  invalid " in line,
        "spinner": line.startswith(snap.spinner),
    }[name]


def test_a_count_of_nothing_takes_no_room() -> None:
    quiet = Snapshot(done=3, total=10, ok=3, failed=0, rate=5.0, elapsed_s=1, eta_s=2)
    line = shown(quiet, 200)
    assert "invalid" not in line
    assert "retries" not in line
    assert "429s" not in line
    assert "failed 0" in line  # ok and failed always show


def test_without_a_total_there_is_no_graphic_and_no_eta() -> None:
    piped = Snapshot(done=5, total=None, ok=5, failed=0, rate=1.0, elapsed_s=3, spinner="⠦")
    assert shown(piped, 200) == "⠦ rows 5/?  ok 5  failed 0  1.0/s  0:00:03"


def test_an_eta_not_known_yet_is_said_so() -> None:
    early = Snapshot(done=0, total=10, ok=0, failed=0, eta_s=None)
    assert shown(early, 80).endswith("  ETA -:--:--")


# -- words, not columns -------------------------------------------------------------------

SENTENCE = (
    "  18 requests (1 retry): 4.0/s over the run, at most 5 in any second (--rate 5); "
    "line 5: 2dcecd51-f679-4868-aad9-94cd761a3802 failed --max-attempts 3"
)


@pytest.mark.parametrize("width", [30, 40, 57, 80])
def test_text_wraps_between_words_only(width: int) -> None:
    lines = wrap(SENTENCE, width)
    assert " ".join(" ".join(lines).split()) == " ".join(SENTENCE.split())  # no word cut
    for line in lines:
        assert len(line) <= width or " " not in line.strip(), line
    assert any("2dcecd51-f679-4868-aad9-94cd761a3802" in line for line in lines)  # whole
    assert any("(--rate 5);" in line for line in lines)  # an option with its value
    assert any("--max-attempts 3" in line for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])  # under its line, two more


def test_text_for_no_terminal_is_left_as_it_is() -> None:
    assert wrap(SENTENCE, None) == [SENTENCE]


def test_a_hanging_indent_puts_the_rest_under_the_value() -> None:
    line = "  would send:     60 calls, about 12s at 5/s, the API's documented limit (--rate 8)"
    assert wrap(line, 60, hang=18) == [
        "  would send:     60 calls, about 12s at 5/s, the API's",
        "                  documented limit (--rate 8)",
    ]


def test_the_width_is_the_terminals_or_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "93")
    assert terminal_width(FakeTerminal()) == 93
    assert terminal_width(io.StringIO()) is None  # not a terminal: not wrapped


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_line_wraps_under_its_sentence() -> None:
    render = PeopleRenderer(colors=False, width=lambda: 50)
    text = render(None, "warning", {"event": "invalid_row", "line": 13, "reason": SENTENCE.strip()})
    lines = text.split("\n")
    assert re.match(r"\d\d:\d\d:\d\d  warning: line 13: not sent:", lines[0])
    assert all(len(line) <= 50 for line in lines if " " in line.strip())
    assert all(line.startswith(" " * STAMP_WIDTH) for line in lines[1:])


# -- the resume command -------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_the_resume_command_is_one_line_of_its_own_at_any_width(
    monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    argv = ["deel-batch", "worker-tokens", "a-long-name-for-the-input-export.csv",
            "-o", "tokens-of-tonight.jsonl", "--rate", "4.5"]  # fmt: skip
    # a failure a retry may fix (a 5xx): the run is left to finish
    stats = Stats(ok=3, failed=1, transient=1, requests=4, elapsed_s=1.5)
    settings = settings_for(*argv[2:])
    human = FakeTerminal()
    with mock.patch.object(sys, "argv", argv):
        print_summary(RunOutcome(stats, 1), settings, log=QuietLogger(), human=human)
    lines = human.getvalue().splitlines()
    command = "    deel-batch worker-tokens a-long-name-for-the-input-export.csv -o " \
        "tokens-of-tonight.jsonl --rate 4.5 --resume"  # fmt: skip
    assert lines[-2:] == ["  to finish, run:", command]
    for line in lines[:-1]:
        assert len(line) <= int(columns), line
