"""Run the program on a real pseudo-terminal and read back the screen a person sees.

`on_terminal` starts ``python -m batch ARGS`` as a user's shell would: in a session of
its own whose controlling terminal is a pty of the given size, standard input, output
and error on it (or standard output elsewhere: a pipe, a file). Ctrl-C is typed as a
person types it (the byte 0x03 into the terminal: the terminal echoes ``^C`` and sends
SIGINT), not sent as a signal from outside.

What was written is replayed on two emulated screens (pyte, a VT emulator):

- ``screen``: as wide as the terminal. What the person sees, wrapping included;
- ``lines``: the same bytes on a screen far wider than anything written, so that
  nothing wraps: one entry per line the program wrote and left on the screen (what
  a redraw erased is gone). A line longer than the terminal shows here as it is.

On a real terminal of that width, ``screen`` must be ``lines`` wrapped at the width
(`rewrapped`): anything else is a line the terminal wrapped where the program did not
expect it, such as a stale copy of the progress bar left above a warning.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyte

from tests.helpers import ENV

#: rows of the terminal the program is told it has
ROWS = 40
#: the emulated screens keep this many rows, so that nothing scrolls away
KEPT_ROWS = 400
#: wide enough that nothing the program writes wraps on it
UNWRAPPED = 2000
#: runs `python -m batch` as a session leader that takes its terminal as controlling tty
_LEADER = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'batch', *sys.argv[1:]])"
)
CTRL_C = b"\x03"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Screen:
    """What the program left on a terminal of ``width`` columns."""

    code: int
    width: int
    raw: bytes
    #: the screen as seen (each row, trailing spaces removed; trailing blank rows dropped)
    screen: list[str]
    #: the lines as written, unwrapped
    lines: list[str]
    #: the screen (as seen) at the moment the ``when`` text first showed
    at_when: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The lines left on the screen, unwrapped."""
        return "\n".join(self.lines)

    @property
    def words(self) -> str:
        """The lines left on the screen as one line of words (for phrases a wrap may split)."""
        return " ".join(self.text.split())

    @property
    def written(self) -> str:
        """Everything written, as text (every redraw of the bar included), ANSI removed."""
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))


def emulate(data: bytes, width: int) -> list[str]:
    screen = pyte.Screen(width, KEPT_ROWS)
    pyte.ByteStream(screen).feed(data)
    rows = [row.rstrip() for row in screen.display]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def rewrapped(lines: list[str], width: int) -> list[str]:
    """``lines`` as a terminal of ``width`` columns shows them: cut every ``width`` columns."""
    return [
        line[i : i + width].rstrip() for line in lines for i in range(0, max(len(line), 1), width)
    ]


def on_terminal(  # noqa: PLR0913 - keyword-only knobs of one pty run, each defaulted
    *args: str,
    cwd: Path,
    width: int = 120,
    when: str | None = None,
    then: Callable[[int, subprocess.Popen[bytes]], None] | None = None,
    stdout: IO[bytes] | None = None,
    pipe_to: list[str] | None = None,
    timeout: float = 60,
) -> Screen:
    """Run ``python -m batch ARGS`` on a fresh pty ``width`` columns wide.

    ``when`` the screen first shows this text, ``then(master_fd, proc)`` is called
    (default: Ctrl-C typed). ``stdout``: a file for standard output instead of the
    terminal (``> FILE``); ``pipe_to``: a command that reads standard output and writes
    to the same terminal (``| head -3``).
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, width, 0, 0))
    environ = {**os.environ, **ENV, "TERM": "xterm-256color", "COLUMNS": str(width)}
    environ["LINES"] = str(ROWS)
    out: IO[bytes] | int = slave if stdout is None else stdout
    reader = None
    if pipe_to is not None:
        read_end, out = os.pipe()
        reader = subprocess.Popen(pipe_to, stdin=read_end, stdout=slave, stderr=slave)
        os.close(read_end)
    proc = subprocess.Popen(
        [sys.executable, "-c", _LEADER, *args],
        stdin=slave,
        stdout=out,
        stderr=slave,
        cwd=cwd,
        env=environ,
        start_new_session=True,
    )
    os.close(slave)
    if reader is not None:
        assert isinstance(out, int)
        os.close(out)
    raw, at_when = b"", b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every copy of the pty's other end is closed
            break
        if not chunk:
            break
        raw += chunk
        if when is not None and when.encode() in raw:
            when, at_when = None, raw
            (then or type_ctrl_c)(master, proc)
    os.close(master)
    code = proc.wait(timeout=timeout)
    if reader is not None:
        reader.wait(timeout=timeout)
    return Screen(
        code=code,
        width=width,
        raw=raw,
        screen=emulate(raw, width),
        lines=emulate(raw, UNWRAPPED),
        at_when=emulate(at_when, width) if at_when else [],
    )


def type_ctrl_c(master: int, _proc: subprocess.Popen[bytes]) -> None:
    os.write(master, CTRL_C)
