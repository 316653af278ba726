"""Helpers for tests: run the CLI in-process, read records, make inputs."""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from batch.cli._main import main


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events if e.get("event") == name]
        assert found, f"no {name!r} event in {[e.get('event') for e in self.events]}"
        return found[-1]

    def names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events]


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> CliResult:
    """Run the real command line in-process (click's runner); JSON logs parsed from stderr."""
    runner = CliRunner()
    result = runner.invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)
    events = []
    for line in result.stderr.splitlines():
        with contextlib.suppress(ValueError):
            parsed = json.loads(line)
            if isinstance(parsed, dict):
                events.append(parsed)
    return CliResult(result.exit_code, result.stdout, result.stderr, events)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def new_ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def write_csv(path: Path, ids: list[str], extra: str = "email") -> Path:
    lines = [f"profile_id,{extra}"] + [f"{pid},user{i}@example.com" for i, pid in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n")
    return path


ENV = {"DEEL_API_TOKEN": "org-secret-token-123456"}


#: Every job's command: the tests that hold for both are parametrised by it.
JOBS = ("worker-tokens", "revoke-tokens")


def job_args(job: str) -> tuple[str, ...]:
    """What a job's command needs beyond the common options when no one is at a terminal:
    a destructive job's confirmation given in advance."""
    return ("--yes",) if job == "revoke-tokens" else ()


def done_by(api: Any, job: str) -> dict[str, int]:
    """How many requests the simulated API processed per ID for ``job`` (POSTs or DELETEs)."""
    counts: dict[str, int] = (
        api.stats.per_profile if job == "worker-tokens" else api.stats.per_worker
    )
    return counts
