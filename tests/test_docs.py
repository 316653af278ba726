"""The library scripts of docs/library.md, as a new user would copy them: they type-check
under ``mypy --strict`` and run against the simulated API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import StartSim

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


def snippets() -> list[str]:
    """The ```python blocks of docs/library.md."""
    return BLOCK.findall((ROOT / "docs" / "library.md").read_text())


def test_the_library_page_has_its_scripts() -> None:
    found = snippets()
    assert len(found) == 3
    assert [s.count("from jobs import") for s in found] == [1, 1, 1]


@pytest.fixture
def scripts(tmp_path: Path) -> list[Path]:
    paths = []
    for number, text in enumerate(snippets(), start=1):
        path = tmp_path / f"library_{number}.py"
        path.write_text(text)
        paths.append(path)
    return paths


@pytest.mark.slow
def test_the_library_scripts_type_check_under_mypy_strict(scripts: list[Path]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-version=3.11",
            f"--cache-dir={ROOT / '.mypy_cache'}",
            *map(str, scripts),
        ],
        cwd=scripts[0].parent,  # not the repository: no project configuration applies
        # the editable install's import hook is invisible to mypy; an installed wheel is not
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found in 3 source files")


@pytest.mark.slow
def test_the_library_scripts_run_against_the_simulated_api(
    sim: StartSim, scripts: list[Path]
) -> None:
    api = sim(rate=None, unknown_profiles={str(uuid.UUID(int=3))})
    ids = [str(uuid.UUID(int=n)) for n in range(1, 9)]
    given = "\n".join([*ids, "not-an-id", ""]) + "\n"
    env = {
        **os.environ,
        "DEEL_API_TOKEN": "docs-org-token",
        "DEEL_API_BASE_URL": api.base_url,
        "PYTHONPATH": str(ROOT),
    }
    outputs = []
    for script in scripts:
        done = subprocess.run(
            [sys.executable, str(script)],
            input=given,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert "wt_" not in done.stdout + done.stderr  # no worker token printed or logged
        outputs.append(done)
    full, five, sync = outputs
    # 1: every valid ID issued but the unknown one; its failure and the bad row on stderr
    assert full.returncode == 1
    assert len(full.stdout.splitlines()) == 7
    assert f"{ids[2]} 3 http Profile not found" in full.stderr
    assert "not-an-id" in full.stderr
    assert "WARNING:migration:invalid_row line=9" in full.stderr  # stdlib logging
    # 2: five, and then the run stopped
    assert len(five.stdout.splitlines()) == 5
    assert five.returncode == 0
    # 3: the sync form, in input order
    assert sync.returncode == 0
    assert [line.split()[0] for line in sync.stdout.splitlines()] == [i for i in ids if i != ids[2]]
