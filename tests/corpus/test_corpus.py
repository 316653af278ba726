"""A data-driven corpus of bad inputs and bad options, one directory per case in tests/corpus/.

Each case directory holds its input files (any name, binary allowed) and a ``case.json``:

``description``
    what the case is about (documentation only);
``args``
    the arguments after ``worker-tokens``; ``{dir}`` is the case directory and ``{input}`` the
    file named by ``input``, both in a temporary copy (the corpus itself is never written to);
``input``
    the file ``{input}`` stands for;
``stdin``
    a file of the case to feed as standard input (bytes as they are);
``env``
    extra environment variables (an empty value clears one, as for ``DEEL_API_TOKEN``);
``chmod``
    file name → octal mode, applied in the copy (``skip_as_root``: skip when run as root);
``exit_code``
    the expected exit code (docs/exit-codes.md);
``stderr_contains``
    substrings the logs must hold; for exit 2, the single error line must hold all of them;
``records``
    for runs that go on: every record expected in the ``-o`` file, each
    ``{"line", "status", "kind"?, "message_contains"?, "profile_id"?, "input"?}`` (``input``:
    the columns ``--keep-columns`` carried, exactly); an ``invalid_input`` record must also be
    logged as an ``invalid_row`` event with its line.
``csv_rows``
    file name → the rows expected in a CSV the run wrote (``.csv`` results, ``--errors``),
    each ``{column: exact text}`` and found by its ``line`` column.

Every CSV a case writes is also checked for spreadsheet formulas: no cell may start with
``= + - @``, a tab or a carriage return (README "Output records").

``--log-format json`` is appended to every run. ``--simulate`` serves the simulated API
unpaced (no case is about pacing, which is tested on virtual time elsewhere): a case never
waits on the API's 5/s window. Whatever the case, no traceback may appear.
A usage, configuration or input error (exit 2) must be reported as exactly one line: one JSON
event of level ``error`` (and no other error), or click's usage error, whose ``Error:`` line
is one line.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import jobs._simulator._cli
from batch.engine import FORMULA_PREFIXES
from jobs._simulator import SimulatorConfig, serve
from tests.helpers import CliResult, read_jsonl, run_cli

CORPUS = Path(__file__).parent
EXIT_USAGE = 2
CASE_KEYS = {
    "description",
    "args",
    "input",
    "stdin",
    "env",
    "chmod",
    "skip_as_root",
    "exit_code",
    "stderr_contains",
    "records",
    "csv_rows",
}
RECORD_KEYS = {"line", "status", "kind", "message_contains", "profile_id", "input"}


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    args: list[str]
    exit_code: int
    stderr_contains: list[str]
    input: str | None = None
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    chmod: dict[str, str] = field(default_factory=dict)
    skip_as_root: bool = False
    records: list[dict[str, Any]] | None = None
    csv_rows: dict[str, list[dict[str, str]]] = field(default_factory=dict)


def load(directory: Path) -> Case:
    spec = json.loads((directory / "case.json").read_text(encoding="utf-8"))
    assert isinstance(spec, dict)
    unknown = set(spec) - CASE_KEYS
    assert not unknown, f"{directory.name}/case.json: unknown keys {sorted(unknown)}"
    for record in spec.get("records") or []:
        assert set(record) <= RECORD_KEYS, f"{directory.name}: unknown record keys in {record}"
    return Case(name=directory.name, **spec)


CASES = [load(d) for d in sorted(CORPUS.iterdir()) if (d / "case.json").is_file()]


def test_corpus_is_complete() -> None:
    """Every directory of the corpus is a case, and the corpus is not silently emptied."""
    directories = [d for d in CORPUS.iterdir() if d.is_dir() and not d.name.startswith("__")]
    assert len(CASES) == len(directories) >= 40


def _prepare(case: Case, tmp_path: Path) -> tuple[list[str], bytes | None, Path]:
    work = tmp_path / case.name
    shutil.copytree(CORPUS / case.name, work)
    (work / "case.json").unlink()
    for name, mode in case.chmod.items():
        (work / name).chmod(int(mode, 8))
    values = {"{dir}": str(work), "{input}": str(work / case.input) if case.input else ""}
    args = []
    for template in case.args:
        arg = template
        for placeholder, value in values.items():
            arg = arg.replace(placeholder, value)
        args.append(arg)
    stdin = (work / case.stdin).read_bytes() if case.stdin else None
    return args, stdin, work


def _restore_modes(case: Case, work: Path) -> None:
    """Let pytest clean up the temporary copy."""
    for name in case.chmod:
        (work / name).chmod(0o600)


def _environment(case: Case) -> dict[str, str]:
    """The case's variables on top of a clean slate for the ones the program reads."""
    env = {"DEEL_API_BASE_URL": ""}
    env.update(case.env)
    return env


def _check_single_error_line(case: Case, res: CliResult) -> None:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    not_json = [line for line in lines if not _is_json_object(line)]  # click's usage errors too
    assert not not_json, f"log lines that are not JSON events: {not_json}"
    events = [e for e in res.events if e.get("level") in ("error", "critical")]
    assert len(events) == 1, f"expected exactly one error event, got {events}"
    message = str(events[0].get("message") or events[0].get("reason") or "")
    assert "\n" not in message, f"the error message spans lines: {message!r}"
    for text in case.stderr_contains:
        assert text in message, f"{text!r} not in the error line {message!r}"


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _output_path(args: list[str]) -> Path:
    for flag in ("-o", "--output"):
        if flag in args:
            return Path(args[args.index(flag) + 1])
    raise AssertionError("a case with records must write them with -o PATH")


def _check_records(expected: list[dict[str, Any]], path: Path) -> None:
    assert path.exists(), f"no results file {path}"
    actual = {r["line"]: r for r in read_jsonl(path)}
    assert sorted(actual) == sorted(e["line"] for e in expected), (
        f"records for lines {sorted(actual)}, expected {sorted(e['line'] for e in expected)}: "
        f"{list(actual.values())}"
    )
    for want in expected:
        got = actual[want["line"]]
        where = f"line {want['line']}: {got}"
        assert got["status"] == want["status"], where
        error = got.get("error") or {}
        if "kind" in want:
            assert error.get("kind") == want["kind"], where
        if "message_contains" in want:
            assert want["message_contains"] in str(error.get("message", "")), where
        if "profile_id" in want:
            assert got["profile_id"] == want["profile_id"], where
        if "input" in want:
            assert got.get("input") == want["input"], where


def _check_csv_rows(expected: dict[str, list[dict[str, str]]], work: Path) -> None:
    for name, rows in expected.items():
        with (work / name).open(newline="", encoding="utf-8") as handle:
            actual = {row["line"]: row for row in csv.DictReader(handle)}
        for want in rows:
            got = actual.get(want["line"])
            assert got is not None, f"{name}: no row for line {want['line']} in {actual}"
            for column, value in want.items():
                assert got[column] == value, f"{name} line {want['line']} {column}: {got}"


def _check_no_formula_cells(work: Path, inputs: set[str]) -> None:
    """What a spreadsheet opening a CSV written by the tool would run as a formula: nothing."""
    for path in work.glob("*.csv"):
        if path.name in inputs:
            continue
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for number, row in enumerate(csv.reader(handle), 1):
                formulas = [cell for cell in row if cell.startswith(FORMULA_PREFIXES)]
                assert not formulas, f"{path.name} row {number}: formula cells {formulas}"


@pytest.fixture
def unpaced_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--simulate`` serves a simulated API without its rate limit."""

    @contextlib.asynccontextmanager
    async def simulated_api() -> AsyncIterator[str]:
        async with serve(SimulatorConfig(rate=None)) as api:
            yield api.base_url

    monkeypatch.setattr(jobs._simulator._cli, "simulated_api", simulated_api)


@pytest.mark.usefixtures("unpaced_simulator")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case: Case, tmp_path: Path) -> None:
    if case.skip_as_root and os.geteuid() == 0:
        pytest.skip("file permissions do not stop root")
    args, stdin, work = _prepare(case, tmp_path)
    try:
        res = run_cli(
            "worker-tokens", *args, "--log-format", "json", env=_environment(case), stdin=stdin
        )
    finally:
        _restore_modes(case, work)
    details = f"{case.description}\nexit {res.exit_code}\nstderr:\n{res.stderr}"
    assert "Traceback" not in res.stdout + res.stderr, details
    assert res.exit_code == case.exit_code, details
    for text in case.stderr_contains:
        assert text in res.stderr, f"{text!r} missing; {details}"
    if case.exit_code == EXIT_USAGE:
        _check_single_error_line(case, res)
    _check_csv_rows(case.csv_rows, work)
    _check_no_formula_cells(work, {p.name for p in (CORPUS / case.name).iterdir()})
    if case.records is not None:
        _check_records(case.records, _output_path(args))
        logged = {e.get("line") for e in res.events if e.get("event") == "invalid_row"}
        for record in case.records:
            if record.get("kind") == "invalid_input":
                assert record["line"] in logged, f"no invalid_row event for line {record['line']}"
