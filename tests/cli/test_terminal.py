"""On a real terminal (a pty): no worker token on the screen, the bar and the summary shown.

Each test runs the program as a user does, in a subprocess whose standard
input, output and error are one pseudo-terminal (120 x 40), and reads the
screen's bytes as they were written.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, write_csv

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: the simulated API admits any rate: no real second of pacing per five IDs
FAST = ("--rate", "100")


def on_terminal(
    *args: str,
    cwd: Path,
    timeout: float = 60,
    interrupt_when: str | None = None,
    reply: tuple[str, bytes] | None = None,
) -> tuple[int, str]:
    """Run ``python -m batch ARGS`` on a fresh pty; its exit code and the screen's text.

    ``interrupt_when``: send SIGINT (as Ctrl-C does) once the screen shows this text.
    ``reply``: (text, keys): type the keys once the screen shows the text.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, **ENV, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every copy of the pty's other end is closed
            break
        if not chunk:
            break
        screen += chunk
        if interrupt_when is not None and interrupt_when.encode() in screen:
            interrupt_when = None
            proc.send_signal(signal.SIGINT)
        if reply is not None and reply[0].encode() in screen:
            os.write(master, reply[1])
            reply = None
    os.close(master)
    return proc.wait(timeout=timeout), ANSI.sub("", screen.decode("utf-8", "replace"))


def tokens_issued(api: object) -> list[str]:
    issued: dict[str, list[str]] = api.stats.issued  # type: ignore[attr-defined]
    return [token for tokens in issued.values() for token in tokens]


def test_without_output_a_terminal_is_refused_before_any_call(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    code, screen = on_terminal("worker-tokens", str(src), "--base-url", api.base_url, cwd=tmp_path)
    assert code == 2
    assert api.stats.requests == 0  # no token issued for nobody
    lines = [line for line in screen.replace("\r", "").splitlines() if line.strip()]
    assert len(lines) == 1, screen  # one line, within 120 columns
    assert len(lines[0]) < 120
    assert lines[0].endswith("would be printed on the screen: pass -o FILE, or -o - to force")


def test_with_output_the_screen_has_the_bar_and_the_summary_but_no_token(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(6)
    src = write_csv(tmp_path / "in.csv", ids)
    code, screen = on_terminal(
        "worker-tokens",
        str(src),
        "-o",
        "out.jsonl",
        "--base-url",
        api.base_url,
        *FAST,
        cwd=tmp_path,
    )
    assert code == 0, screen
    issued = tokens_issued(api)
    assert len(issued) == 6
    assert {r["token"] for r in read_jsonl(tmp_path / "out.jsonl")} == set(issued)
    assert not [token for token in issued if token in screen]
    assert "6/6" in screen  # the bar's last state
    assert "Done in" in screen
    assert "6 ok" in screen
    assert "run_finished" not in screen  # the summary says it for people
    assert "None" not in screen


def test_forced_standard_output_prints_records_on_lines_of_their_own(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(4))
    code, screen = on_terminal(
        "worker-tokens", str(src), "-o", "-", "--base-url", api.base_url, *FAST, cwd=tmp_path
    )
    assert code == 0, screen
    records = [line for line in screen.splitlines() if '"profile_id"' in line]
    assert len(records) == 4
    for line in records:  # nothing glued before or after a record (no bar on its line)
        assert json.loads(line.strip("\r"))["status"] == "ok"


def test_with_a_log_file_the_terminal_still_shows_the_bar_and_summary(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(5)
    api = sim(rate=None, unknown_profiles={ids[0]})
    src = write_csv(tmp_path / "in.csv", ids)
    code, screen = on_terminal(
        "worker-tokens",
        str(src),
        "-o",
        "out.jsonl",
        "--log-file",
        "run.log",
        "--base-url",
        api.base_url,
        *FAST,
        cwd=tmp_path,
    )
    assert code == 1, screen
    assert not [token for token in tokens_issued(api) if token in screen]
    assert "5/5" in screen
    assert "Done in" in screen
    assert "4 ok, 1 failed" in screen
    assert "logs: run.log" in screen
    assert "to finish:" in screen
    events = [json.loads(line) for line in (tmp_path / "run.log").read_text().splitlines()]
    assert events[-1]["event"] == "run_finished"  # the log file keeps the machine's record
    assert "record_failed" in {e["event"] for e in events}
    assert "record_failed" not in screen  # ... and the terminal the person's


def test_quiet_on_a_terminal_is_one_line(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    code, screen = on_terminal(
        "worker-tokens",
        str(src),
        "-o",
        "out.jsonl",
        "--quiet",
        "--base-url",
        api.base_url,
        *FAST,
        cwd=tmp_path,
    )
    assert code == 0, screen
    lines = [line for line in screen.replace("\r", "").splitlines() if line.strip()]
    assert len(lines) == 1, screen
    assert lines[0].startswith("Done in")
    assert lines[0].endswith("; results in out.jsonl")


def test_simulated_tokens_may_show_on_their_own_lines(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    code, screen = on_terminal("worker-tokens", str(src), "--simulate", cwd=tmp_path)
    assert code == 0, screen
    records = [line for line in screen.splitlines() if '"profile_id"' in line]
    assert len(records) == 3
    for line in records:
        assert json.loads(line.strip("\r"))["status"] == "ok"
    assert "Done in" in screen


def test_with_a_log_file_ctrl_c_is_still_told_on_the_terminal(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(100))
    code, screen = on_terminal(
        "worker-tokens",
        str(src),
        "-o",
        "out.jsonl",
        "--log-file",
        "run.log",
        "--rate",
        "5",
        "--base-url",
        api.base_url,
        cwd=tmp_path,
        interrupt_when="ok 2 ",
    )
    assert code == 130, screen
    assert "send it again to stop at once" in screen
    assert "Stopped by SIGINT" in screen
    assert "not attempted" in screen
    assert "--resume" in screen
    assert not [token for token in tokens_issued(api) if token in screen]


# -- a destructive job asks first -------------------------------------------------------

QUESTION = "Revoke the active worker token of 3 IDs at {}? (about 0.4s) [y/N] "


def test_revoking_asks_once_naming_the_count_and_the_api(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    code, screen = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--base-url", api.base_url, *FAST,
        cwd=tmp_path, reply=("[y/N]", b"y\n"),
    )  # fmt: skip
    assert code == 0, screen
    assert screen.count("[y/N]") == 1
    assert QUESTION.format(api.base_url) in screen
    assert api.stats.revocations == 3
    assert "Done in" in screen
    assert "3 ok" in screen


def test_anything_but_yes_revokes_nothing(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    code, screen = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--base-url", api.base_url, *FAST,
        cwd=tmp_path, reply=("[y/N]", b"\n"),
    )  # fmt: skip
    assert code == 2, screen
    assert (
        screen.replace("\r", "")
        .rstrip()
        .endswith("deel-batch: revoke-tokens not confirmed: nothing was done")
    )
    assert api.stats.requests == 0


def test_ctrl_c_at_the_question_stops_before_any_call(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    code, screen = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--base-url", api.base_url, *FAST,
        cwd=tmp_path, interrupt_when="[y/N]",
    )  # fmt: skip
    assert code == 130, screen
    assert "before any call" in screen
    assert api.stats.requests == 0


def test_yes_asks_nothing(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    code, screen = on_terminal(
        "revoke-tokens", str(src), "-o", "out.jsonl", "--yes", "--base-url", api.base_url, *FAST,
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, screen
    assert "[y/N]" not in screen
    assert api.stats.revocations == 3
