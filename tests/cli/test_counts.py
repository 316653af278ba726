"""One set of counts: the summary, ``run_finished``, the metrics and the files agree.

Each path a run can end by (finished, aborted, interrupted, at ``--limit``) is run on a
terminal as an admin runs it, with every place the counts go: the summary on the screen,
``run_finished`` in ``--log-file``, ``--metrics-file``, ``--errors`` and the results
file. The input has an invalid row, a repeat and a blank row both before and after the
point where each run stops, so that every rule is tested on both sides of it.

The rule (docs/logs-and-metrics.md, "One set of counts"): every row read is counted
once, under one outcome, by the same rules wherever it is; ``not_attempted`` is a
valid, distinct ID the run did not send.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import anyio
import pytest

from batch.cli._context import Run
from batch.cli._not_attempted import count_not_attempted
from batch.cli._parts import Parts
from batch.engine import QuietLogger, Stats
from batch.engine._stats import OUTCOMES
from tests.cli.terminal import Screen, on_terminal, type_ctrl_c
from tests.conftest import StartSim
from tests.helpers import read_jsonl

slow = pytest.mark.slow

A, B, C, D, E, F, G = (f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 8))
#: 13 rows: 7 distinct IDs, 2 invalid rows, 2 repeats, 2 blank rows, on both sides of line 7
ROWS = [A, B, "bad-1", "", A, C, D, E, "bad-2", "", B, F, G]
SUMMARY_WORDS = {
    "ok": "ok",
    "failed": "failed",
    "invalid": "invalid rows?",
    "duplicates": "duplicates?",
    "blank": "blank rows? skipped",
    "skipped": "already ok",
    "not_attempted": "not attempted",
}


def run_counted(tmp_path: Path, *args: str, **terminal: object) -> Screen:
    (tmp_path / "in.csv").write_text(
        "profile_id,email\n" + "".join(f"{row},{'x@example.com' if row else ''}\n" for row in ROWS)
    )
    return on_terminal(
        "worker-tokens", "in.csv", "-o", "tokens.jsonl", "--errors", "failed.csv",
        "--log-file", "run.log", "--metrics-file", "run.prom", "--rate", "5",
        "--concurrency", "1", "--grace", "0.5", *args,
        cwd=tmp_path, width=200, **terminal,  # type: ignore[arg-type]
    )  # fmt: skip


def everywhere(tmp_path: Path, result: Screen) -> dict[str, dict[str, int]]:
    """The counts as each place says them."""
    events = [json.loads(line) for line in (tmp_path / "run.log").read_text().splitlines()]
    (finished,) = [e for e in events if e["event"] == "run_finished"]
    metrics = {
        found["status"]: int(float(found["value"]))
        for found in re.finditer(
            r'^deel_batch_records\{status="(?P<status>\w+)"\} (?P<value>\S+)$',
            (tmp_path / "run.prom").read_text(),
            re.MULTILINE,
        )
    }
    headline = re.search(r"(Done in|Stopped) .*?(?= \d[\d,]* requests? \(| no request sent)",
                         result.words)  # fmt: skip
    assert headline, result.words
    summary = {}
    for name, words in SUMMARY_WORDS.items():
        said = re.search(rf"(\d[\d,]*) {words}\b", headline.group(0))
        summary[name] = int(said.group(1).replace(",", "")) if said else 0
    with open(tmp_path / "failed.csv", newline="") as handle:
        errors = [row["error_kind"] for row in csv.DictReader(handle)]
    records = read_jsonl(tmp_path / "tokens.jsonl")
    kinds = [r.get("error", {}).get("kind") for r in records]
    return {
        "run_finished": {name: finished[name] for name in OUTCOMES},
        "metrics": {name: metrics[name] for name in OUTCOMES},
        "summary": summary,
        "errors file": {
            "invalid": errors.count("invalid_input"),
            "failed": len(errors) - errors.count("invalid_input"),
        },
        "results file": {
            "ok": kinds.count(None),
            "invalid": kinds.count("invalid_input"),
            "failed": len(kinds) - kinds.count(None) - kinds.count("invalid_input"),
        },
    }


def assert_one_set(tmp_path: Path, result: Screen, expected: dict[str, int]) -> None:
    said = everywhere(tmp_path, result)
    assert said["run_finished"] == {name: expected.get(name, 0) for name in OUTCOMES}, said
    for place, counts in said.items():
        for name, count in counts.items():
            assert count == said["run_finished"][name], (place, name, said)
    assert sum(said["run_finished"].values()) == len(ROWS)  # each row counted once


@slow
def test_a_finished_run(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, unknown_profiles={C})
    result = run_counted(tmp_path, "--base-url", api.base_url)
    assert result.code == 1, result.text
    expected = {"ok": 6, "failed": 1, "invalid": 2, "duplicates": 2, "blank": 2}
    assert_one_set(tmp_path, result, expected)


@slow
def test_an_aborted_run(sim: StartSim, tmp_path: Path) -> None:
    """The token is refused from the third ID on: the run stops (exit 3). The invalid row
    after that point was warned about at the start (rows are read ahead): it is invalid,
    with its record, not 'not attempted'."""
    api = sim(rate=None, revoke_after=2)
    result = run_counted(tmp_path, "--base-url", api.base_url)
    assert result.code == 3, result.text
    expected = {"ok": 2, "invalid": 2, "duplicates": 2, "blank": 2, "not_attempted": 5}
    assert_one_set(tmp_path, result, expected)
    warned = [json.loads(line) for line in (tmp_path / "run.log").read_text().splitlines()]
    assert [e["line"] for e in warned if e["event"] == "invalid_row"] == [4, 10]


@slow
def test_an_interrupted_run(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, plan={C: ["stall"]}, stall_seconds=30)

    def once_it_hangs(master: int, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 10
        while api.stats.per_profile[C] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        type_ctrl_c(master, proc)

    result = run_counted(
        tmp_path, "--base-url", api.base_url, when="ok 2  failed 0", then=once_it_hangs
    )
    assert result.code == 130, result.text
    # C was cut off in flight (an aborted record); D to G were never sent.
    expected = {"ok": 2, "failed": 1, "invalid": 2, "duplicates": 2, "blank": 2}
    assert_one_set(tmp_path, result, {**expected, "not_attempted": 4})


@slow
def test_a_limit_run(sim: StartSim, tmp_path: Path) -> None:
    """--limit 3: A, B, C are sent; the rest is judged like any rows (the invalid row, the
    repeat and the blank row after the limit count as such); D to G are left."""
    api = sim(rate=None)
    result = run_counted(tmp_path, "--base-url", api.base_url, "--limit", "3")
    assert result.code == 1, result.text  # the invalid rows' records
    expected = {"ok": 3, "invalid": 2, "duplicates": 2, "blank": 2, "not_attempted": 4}
    assert_one_set(tmp_path, result, expected)
    assert api.stats.requests == 3


@pytest.mark.anyio
async def test_a_count_cut_short_keeps_the_ids_it_found() -> None:
    """A second Ctrl-C while the rest is counted: the IDs counted so far stay in
    not_attempted, and the rows not read yet are estimated from the line count."""

    class Items:
        counted = 0

        async def count_rest(self, invalid: object) -> int:
            self.counted = 3  # three IDs found, then the reading hangs
            await anyio.sleep_forever()
            raise AssertionError

    stats = Stats(rows=10)  # 10 of the input's 15 rows were read
    second_signal = anyio.Event()
    second_signal.set()
    parts = SimpleNamespace(items=Items(), total=15, writer=None)
    run = SimpleNamespace(stats=stats, log=QuietLogger())
    await count_not_attempted(cast(Run, run), cast(Parts, parts), second_signal)
    assert stats.not_attempted == 3 + 5
