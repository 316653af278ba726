"""What a person reads (golden console transcripts) and what a machine parses (JSON mode).

The transcripts in tests/cli/golden/ are the console output of whole runs, with
what changes from run to run normalised (times, durations, rates, ports,
request ids, the temporary directory). ``UPDATE_GOLDEN=1 pytest
tests/cli/test_console.py`` rewrites them after a deliberate change: read the diff.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import StartSim
from tests.helpers import ENV, CliResult, run_cli

GOLDEN = Path(__file__).parent / "golden"
IDS = [
    "6d5ba669-cedb-459a-888b-62d4b3ec40d4",
    "27ee6d9c-eb00-479a-82c0-b4d1e8762b4e",
    "540ea112-e909-4489-af09-ba7d183b95c5",
    "2dcecd51-f679-4868-aad9-94cd761a3802",
    "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
]
# One ID per line, one invalid row, one duplicate: the shape of a real HR export.
INPUT = (
    "profile_id,email\n"
    + "".join(f"{pid},user{n}@example.com\n" for n, pid in enumerate(IDS))
    + "not-a-uuid,bad@example.com\n"
    + f"{IDS[0]},again@example.com\n"
)
FAST = ("--rate", "1000", "--backoff-base", "0.01", "--concurrency", "1")


def normalise(text: str, tmp_path: Path) -> str:
    text = text.replace(str(tmp_path), "<tmp>")
    text = re.sub(r"^\d\d:\d\d:\d\d  ", "HH:MM:SS  ", text, flags=re.MULTILINE)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"(in|after) \d+(\.\d)?s\b", r"\1 Ns", text)
    text = re.sub(r"[\d.]+ ms", "N ms", text)
    text = re.sub(r"[\d.]+/s over the run, at most \d+", "R/s over the run, at most P", text)
    text = re.sub(r"about \d+(\.\d)?s", "about Ns", text)
    known = set(IDS)
    return re.sub(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        lambda m: m.group(0) if m.group(0) in known else "<request-id>",
        text,
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; UPDATE_GOLDEN=1 if on purpose"


def run(*args: str, api_url: str | None, tmp_path: Path, fmt: str = "console") -> CliResult:
    src = tmp_path / "profiles.csv"
    src.write_text(INPUT)
    argv = ["worker-tokens", str(src), *(("--base-url", api_url) if api_url else ())]
    argv += [*FAST, "--log-format", fmt, *args]
    with mock.patch.object(sys, "argv", ["deel-batch", *argv]):  # the resume command's source
        return run_cli(*argv, env=ENV)


def test_golden_clean_run(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    res = run("-o", str(tmp_path / "tokens.jsonl"), api_url=api.base_url, tmp_path=tmp_path)
    assert res.exit_code == 1  # the invalid row
    check_golden("clean-run.txt", normalise(res.stderr, tmp_path))


def test_golden_faulty_run(sim: StartSim, tmp_path: Path) -> None:
    api = sim(
        rate=None,
        plan={IDS[2]: ["500", "429"], IDS[3]: ["503_html", "503_html", "503_html"]},
        unknown_profiles={IDS[1]},
    )
    res = run(
        "-o",
        str(tmp_path / "tokens.jsonl"),
        "--errors",
        str(tmp_path / "failed.csv"),
        "--max-attempts",
        "3",
        api_url=api.base_url,
        tmp_path=tmp_path,
    )
    assert res.exit_code == 1
    text = normalise(res.stderr, tmp_path)
    check_golden("faulty-run.txt", text)
    assert "retrying" not in text  # counted in the summary, shown at debug only
    assert "None" not in text


def test_golden_dry_run(tmp_path: Path) -> None:
    res = run("--dry-run", api_url=None, tmp_path=tmp_path)
    assert res.exit_code == 1
    check_golden("dry-run.txt", normalise(res.stderr, tmp_path))


def test_golden_limit_run(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    res = run(
        "-o",
        str(tmp_path / "tokens.jsonl"),
        "--limit",
        "2",
        api_url=api.base_url,
        tmp_path=tmp_path,
    )
    assert res.exit_code == 1  # the invalid row beyond the limit: judged like any other
    check_golden("limit-run.txt", normalise(res.stderr, tmp_path))


def every_line_parses(stderr: str) -> list[dict[str, object]]:
    events = []
    for line in stderr.splitlines():
        event = json.loads(line)  # raises on a line that is not JSON
        assert isinstance(event, dict)
        assert {"event", "level", "timestamp"} <= event.keys()
        events.append(event)
    return events


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--dry-run",),
        ("--quiet",),
        ("--limit", "2"),
        ("--keep-columns", "nope"),  # exit 2: an event, not a plain line
        ("--log-level", "debug"),
    ],
)
def test_json_mode_every_stderr_line_parses(
    sim: StartSim, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    api = sim(rate=None, plan={IDS[2]: ["500"]}, unknown_profiles={IDS[1]})
    res = run(
        "-o", str(tmp_path / "t.jsonl"), *extra, api_url=api.base_url, tmp_path=tmp_path, fmt="json"
    )
    events = every_line_parses(res.stderr)
    names = [e["event"] for e in events]
    if "--dry-run" in extra:
        assert names == ["dry_run"]  # the report is one event
        assert events[0]["would_send"] == 5
    elif "--quiet" in extra:
        assert names == ["run_finished"]
    elif "nope" in extra:
        assert names == ["usage_error"]
    else:
        assert names[-1] == "run_finished"
        if "--limit" not in extra:  # JSON mode keeps every event (--limit: of the first two)
            assert "duplicate_id" in names
            assert "retrying" in names
        finished = events[-1]
        assert finished["achieved_rate"] is not None


def test_quiet_shows_errors_and_the_one_line(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, token="the-right-token-123")
    res = run("-o", str(tmp_path / "t.jsonl"), "--quiet", api_url=api.base_url, tmp_path=tmp_path)
    assert res.exit_code == 3
    lines = normalise(res.stderr, tmp_path).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("HH:MM:SS  error: stopping: the API refused the token")
    assert lines[1].startswith("Stopped after Ns: 0 ok")


def test_failed_records_beyond_ten_are_summarised_in_one_line(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(15)]
    api = sim(rate=None, unknown_profiles=set(ids))
    src = tmp_path / "in.csv"
    src.write_text("profile_id\n" + "\n".join(ids) + "\n")
    res = run_cli(
        "worker-tokens",
        str(src),
        "-o",
        str(tmp_path / "t.jsonl"),
        "--errors",
        str(tmp_path / "failed.csv"),
        "--base-url",
        api.base_url,
        "--rate",
        "1000",
        "--log-format",
        "console",
        env=ENV,
    )
    assert res.exit_code == 1
    failed = [line for line in res.stderr.splitlines() if "failed after 1 attempt:" in line]
    assert len(failed) == 10
    assert res.stderr.count("more failed records are not shown here") == 1
    assert "in the results and in " in res.stderr
    assert "failed.csv" in res.stderr
    assert "Done in" in res.stderr
    assert "0 ok, 15 failed" in res.stderr
