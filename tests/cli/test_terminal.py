"""On a real terminal (a pty): what a person sees, at 80 columns and at 200.

Each test runs the program as a user does (`tests.cli.terminal.on_terminal`): in a
subprocess whose standard input, output and error are one pseudo-terminal, Ctrl-C
typed into it. The screen is what a VT emulator shows after replaying every byte.

The golden transcripts (``golden/terminal-*-80.txt`` and ``-200.txt``) are the
lines left on the screen at the end, as the program wrote them (unwrapped), with
what changes from run to run normalised. ``UPDATE_GOLDEN=1`` rewrites them: read the
diff. Every line of them fits its width, except the resume command's own line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from batch.cli._bar import MARGIN
from tests.cli.terminal import Screen, on_terminal, rewrapped, type_ctrl_c
from tests.cli.test_console import GOLDEN, IDS, INPUT, check_golden, normalise
from tests.conftest import StartSim
from tests.helpers import new_ids, read_jsonl, write_csv

pytestmark = pytest.mark.slow

#: the simulated API admits any rate: no real second of pacing per five IDs
FAST = ("--rate", "100")
WIDTHS = (80, 200)
#: the line before the resume command (which stands alone on the next line)
TO_FINISH = "  to finish, run:"


def tokens_issued(api: object) -> list[str]:
    issued: dict[str, list[str]] = api.stats.issued  # type: ignore[attr-defined]
    return [token for tokens in issued.values() for token in tokens]


def as_seen(result: Screen) -> None:
    """The screen a person sees is the lines the program wrote, each whole on its own rows:
    no line wrapped where the program did not expect it, nothing stale left behind."""
    assert result.screen == rewrapped(result.lines, result.width), "\n".join(result.screen)


# -- golden transcripts, at 80 and 200 columns ------------------------------------------


def golden(name: str, result: Screen, tmp_path: Path) -> None:
    as_seen(result)
    check_golden(f"terminal-{name}-{result.width}.txt", normalise(result.text, tmp_path) + "\n")


@pytest.mark.parametrize("width", WIDTHS)
def test_golden_clean_run(sim: StartSim, tmp_path: Path, width: int) -> None:
    api = sim(rate=None)
    write_csv(tmp_path / "profiles.csv", IDS)
    result = on_terminal(
        "worker-tokens", "profiles.csv", "-o", "tokens.jsonl", "--base-url", api.base_url,
        "--rate", "5", cwd=tmp_path, width=width,
    )  # fmt: skip
    assert result.code == 0, result.text
    assert len(read_jsonl(tmp_path / "tokens.jsonl")) == 5
    golden("clean", result, tmp_path)


@pytest.mark.parametrize("width", WIDTHS)
def test_golden_faulty_run(sim: StartSim, tmp_path: Path, width: int) -> None:
    api = sim(
        rate=None,
        plan={IDS[2]: ["500", "429"], IDS[3]: ["503_html", "503_html", "503_html"]},
        unknown_profiles={IDS[1]},
    )
    (tmp_path / "profiles.csv").write_text(INPUT)
    result = on_terminal(
        "worker-tokens", "profiles.csv", "-o", "tokens.jsonl", "--errors", "failed.csv",
        "--base-url", api.base_url, "--rate", "5", "--max-attempts", "3",
        "--backoff-base", "0.01", "--concurrency", "1", cwd=tmp_path, width=width,
    )  # fmt: skip
    assert result.code == 1, result.text
    golden("faulty", result, tmp_path)


def interrupted_input(path: Path) -> None:
    # The third ID hangs (until Ctrl-C); an invalid row and a repeat come after it.
    rows = [*IDS[:4], "not-a-uuid", IDS[4], IDS[0]]
    path.write_text("profile_id\n" + "".join(f"{row}\n" for row in rows))


@pytest.mark.parametrize("width", WIDTHS)
def test_golden_interrupted_run(sim: StartSim, tmp_path: Path, width: int) -> None:
    api = sim(rate=None, plan={IDS[2]: ["stall"]}, stall_seconds=30)
    interrupted_input(tmp_path / "profiles.csv")

    def once_it_hangs(master: int, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 10
        while api.stats.per_profile[IDS[2]] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        type_ctrl_c(master, proc)

    result = on_terminal(
        "worker-tokens", "profiles.csv", "-o", "tokens.jsonl", "--base-url", api.base_url,
        "--rate", "5", "--concurrency", "1", "--grace", "0.5",
        cwd=tmp_path, width=width, when="ok 2  failed 0", then=once_it_hangs,
    )  # fmt: skip
    assert result.code == 130, result.text
    # The hung request was cut off after the grace (an aborted record); the invalid row
    # after it has its record too, though the run stopped before it.
    kinds = [r.get("error", {}).get("kind") for r in read_jsonl(tmp_path / "tokens.jsonl")]
    assert kinds == [None, None, "aborted", "invalid_input"]
    # Mid-run, the bar was the last row: whole, and short of the width (room for the ^C).
    bar = result.at_when[-1]
    assert "3/7  ok 2  failed 0" in bar
    assert re.search(r"ETA (\d+:\d\d:\d\d|-:--:--)$", bar), bar
    assert len(bar) <= width - MARGIN
    assert ("retries" in bar) is False  # none yet: a field without a count does not show
    # At the end, no bar and no ^C are left anywhere on the screen.
    assert not [row for row in result.screen if "ETA" in row or "^C" in row], result.screen
    golden("interrupted", result, tmp_path)


@pytest.mark.parametrize("width", WIDTHS)
def test_golden_dry_run(tmp_path: Path, width: int) -> None:
    (tmp_path / "profiles.csv").write_text(INPUT)
    result = on_terminal(
        "worker-tokens", "profiles.csv", "--dry-run", "--rate", "8", cwd=tmp_path, width=width
    )
    assert result.code == 1, result.text
    golden("dry", result, tmp_path)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("terminal-*.txt")), ids=lambda p: p.name)
def test_every_golden_line_fits_its_width_but_the_resume_command(path: Path) -> None:
    width = int(path.stem.rsplit("-", 1)[1])
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if number and lines[number - 1] == TO_FINISH:  # whole, to be copied, however long
            assert line.startswith("    deel-batch worker-tokens ")
            assert line.endswith(" --resume")
            continue
        # Normalised values are never longer than what they stand for (a port, a time).
        assert len(line) <= width, f"{path.name}:{number + 1} is {len(line)} columns: {line}"


def test_there_is_a_golden_transcript_for_each_run_and_width() -> None:
    names = {path.name for path in GOLDEN.glob("terminal-*.txt")}
    runs = ("clean", "faulty", "interrupted", "dry")
    assert names == {f"terminal-{run}-{width}.txt" for run in runs for width in WIDTHS}


# -- records and the bar never share a line -----------------------------------------------


def test_records_piped_on_are_not_interleaved_with_a_bar(sim: StartSim, tmp_path: Path) -> None:
    """``-o - | head -3`` at a terminal: head prints the records on the bar's screen, so no
    live bar is drawn (its redraws would cut into them); the records come out whole."""
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(30))
    result = on_terminal(
        "worker-tokens", str(src), "-o", "-", "--base-url", api.base_url, "--rate", "20",
        cwd=tmp_path, width=80, pipe_to=["head", "-3"],
    )  # fmt: skip
    assert result.code == 141, result.text  # head left: standard output was closed
    assert "ETA" not in result.written  # never drawn, not even for a moment
    records = [line for line in result.lines if line.startswith('{"profile_id"')]
    assert [json.loads(line)["status"] for line in records] == ["ok"] * 3
    assert "Stopped after" in result.text
    as_seen(result)


def test_records_redirected_to_a_file_leave_the_bar_on(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(6))
    with open(tmp_path / "out.jsonl", "wb") as out:
        result = on_terminal(
            "worker-tokens", str(src), "-o", "-", "--base-url", api.base_url, *FAST,
            cwd=tmp_path, width=80, stdout=out,
        )  # fmt: skip
    assert result.code == 0, result.text
    assert "6/6  ok 6  failed 0" in result.written  # the bar's last state, while it ran
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 6


def test_forced_standard_output_prints_records_on_lines_of_their_own(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(4))
    result = on_terminal(
        "worker-tokens", str(src), "-o", "-", "--base-url", api.base_url, *FAST, cwd=tmp_path
    )
    assert result.code == 0, result.text
    records = [line for line in result.lines if '"profile_id"' in line]
    assert len(records) == 4
    for line in records:  # nothing glued before or after a record (no bar on its line)
        assert json.loads(line)["status"] == "ok"
    assert "ETA" not in _outside(result.written, records)  # a token may hold "ETA"


def _outside(written: str, records: list[str]) -> str:
    """What was written besides the records."""
    for record in records:
        written = written.replace(record, "")
    return written


def test_simulated_tokens_may_show_on_their_own_lines(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    result = on_terminal("worker-tokens", str(src), "--simulate", cwd=tmp_path, width=80)
    assert result.code == 0, result.text
    records = [line for line in result.lines if '"profile_id"' in line]
    assert len(records) == 3
    for line in records:
        assert json.loads(line)["status"] == "ok"
    assert "ETA" not in _outside(result.written, records)
    assert "Done in" in result.text


# -- what the screen never shows, and what it always does ---------------------------------


def test_without_output_a_terminal_is_refused_before_any_call(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    result = on_terminal("worker-tokens", str(src), "--base-url", api.base_url, cwd=tmp_path)
    assert result.code == 2
    assert api.stats.requests == 0  # no token issued for nobody
    assert len(result.lines) == 1, result.text  # one line, within 120 columns
    assert len(result.lines[0]) < 120
    assert result.lines[0].endswith(
        "would be printed on the screen: pass -o FILE, or -o - to force"
    )


def test_with_output_the_screen_has_the_bar_and_the_summary_but_no_token(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(6))
    result = on_terminal(
        "worker-tokens", str(src), "-o", "out.jsonl", "--base-url", api.base_url, *FAST,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.text
    issued = tokens_issued(api)
    assert len(issued) == 6
    assert {r["token"] for r in read_jsonl(tmp_path / "out.jsonl")} == set(issued)
    assert not [token for token in issued if token in result.written]
    assert "6/6" in result.written  # the bar's last state, while it ran
    assert "ETA" not in result.text  # ... gone at the end: the summary says the same
    assert result.lines[-4].startswith("Done in")
    assert "6 ok" in result.text
    assert "run_finished" not in result.written  # the summary says it for people
    assert "None" not in result.written


def test_with_a_log_file_the_terminal_still_shows_the_bar_and_summary(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(5)
    # A failure a retry may fix (500s outlasting --max-attempts): the run is left to
    # finish. (A 404 would be the API's final answer: "nothing to finish".)
    api = sim(rate=None, plan={ids[0]: ["500", "500"]})
    src = write_csv(tmp_path / "in.csv", ids)
    result = on_terminal(
        "worker-tokens", str(src), "-o", "out.jsonl", "--log-file", "run.log",
        "--base-url", api.base_url, "--max-attempts", "2", "--backoff-base", "0.01", *FAST,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 1, result.text
    assert not [token for token in tokens_issued(api) if token in result.written]
    assert "5/5" in result.written
    assert "Done in" in result.text
    assert "4 ok, 1 failed" in result.text
    assert "logs: run.log" in result.text
    assert result.lines[-2] == TO_FINISH
    assert result.lines[-1].endswith("--resume")
    events = [json.loads(line) for line in (tmp_path / "run.log").read_text().splitlines()]
    assert events[-1]["event"] == "run_finished"  # the log file keeps the machine's record
    assert "record_failed" in {e["event"] for e in events}
    assert "record_failed" not in result.written  # ... and the terminal the person's


def test_quiet_on_a_terminal_is_one_line(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    result = on_terminal(
        "worker-tokens", str(src), "-o", "out.jsonl", "--quiet", "--base-url", api.base_url,
        *FAST, cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.text
    assert len(result.lines) == 1, result.text
    assert result.lines[0].startswith("Done in")
    assert result.lines[0].endswith("; results in out.jsonl")


def test_with_a_log_file_ctrl_c_is_still_told_on_the_terminal(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(100))
    result = on_terminal(
        "worker-tokens", str(src), "-o", "out.jsonl", "--log-file", "run.log", "--rate", "5",
        "--base-url", api.base_url, cwd=tmp_path, width=80, when="ok 2 ",
    )  # fmt: skip
    assert result.code == 130, result.text
    assert "send it again to stop at once" in result.words
    assert "Stopped by SIGINT" in result.words
    assert "not attempted" in result.words
    assert result.lines[-1].endswith("--resume")
    assert not [token for token in tokens_issued(api) if token in result.written]
    as_seen(result)


# -- a destructive job asks first -------------------------------------------------------

QUESTION = "Revoke the active worker token of 3 IDs at {}? (about 0.4s) [y/N]"


def _typed(keys: bytes) -> Callable[[int, subprocess.Popen[bytes]], None]:
    def type_keys(master: int, _proc: subprocess.Popen[bytes]) -> None:
        os.write(master, keys)

    return type_keys


def test_revoking_asks_once_naming_the_count_and_the_api(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    result = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--base-url", api.base_url, *FAST,
        cwd=tmp_path, width=200, when="[y/N]", then=_typed(b"y\n"),
    )  # fmt: skip
    assert result.code == 0, result.text
    assert result.written.count("[y/N]") == 1
    assert QUESTION.format(api.base_url) in result.at_when[-1]
    assert api.stats.revocations == 3
    assert "3 ok" in result.words
    as_seen(result)


def test_anything_but_yes_revokes_nothing(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    result = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--base-url", api.base_url, *FAST,
        cwd=tmp_path, width=200, when="[y/N]", then=_typed(b"\n"),
    )  # fmt: skip
    assert result.code == 2, result.text
    assert result.lines[-1] == "deel-batch: revoke-tokens not confirmed: nothing was done"
    assert api.stats.requests == 0


def test_ctrl_c_at_the_question_stops_before_any_call(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    result = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--base-url", api.base_url, *FAST,
        cwd=tmp_path, width=200, when="[y/N]",
    )  # fmt: skip
    assert result.code == 130, result.text
    assert "before any call" in result.words
    assert api.stats.requests == 0


def test_yes_asks_nothing(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    result = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--yes", "--base-url", api.base_url,
        *FAST, cwd=tmp_path, width=200,
    )  # fmt: skip
    assert result.code == 0, result.text
    assert "[y/N]" not in result.written
    assert api.stats.revocations == 3
