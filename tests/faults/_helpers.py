"""Running the real program in a subprocess, as an operator does, and reading what it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import ENV

__all__ = ["Ran", "batch", "parse_events", "run_batch", "spawn", "wait_for"]


def batch(*args: str) -> list[str]:
    """The command line of ``deel-batch ARGS`` (``python -m batch``, the same program)."""
    return [sys.executable, "-m", "batch", *args]


@dataclass
class Ran:
    code: int
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events if e.get("event") == name]
        assert found, f"no {name!r} event in {[e.get('event') for e in self.events]}"
        return found[-1]

    def plain_lines(self) -> list[str]:
        """Lines of standard error that are not JSON objects (each breaks ``| jq``)."""
        return [line for line in self.stderr.splitlines() if line and not _is_json(line)]


def parse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if _is_json(line)]


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, **ENV, **extra}


def run_batch(
    args: Sequence[str],
    *,
    cwd: Path,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
    **popen: Any,
) -> Ran:
    """Run ``deel-batch ARGS`` to its end; its exit code and standard error."""
    done = subprocess.run(
        batch(*args),
        cwd=cwd,
        env=env(**(extra_env or {})),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
        **popen,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    return Ran(done.returncode, stderr, parse_events(stderr))


def spawn(args: Sequence[str], *, cwd: Path, stderr: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``deel-batch ARGS``; its standard error goes to the file ``stderr``."""
    with stderr.open("ab") as log:
        return subprocess.Popen(
            batch(*args),
            cwd=cwd,
            env=env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            **popen,
        )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Wait for something the run does (a line written, a counter); the timeout only
    catches a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)
