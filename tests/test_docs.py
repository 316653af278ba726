"""The documentation is true: the library scripts of docs/library.md type-check under
``mypy --strict`` and run against the simulated API; docs/options.md lists exactly the
options each command shows in ``--help``; every relative link in README.md and docs/
points to a file (and heading) that exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterable
from pathlib import Path

import click
import pytest

from batch.cli._main import main
from tests.conftest import StartSim

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
#: the option names in a table row's first cell: `--rate N`, `-o`, `--output PATH`
OPTION_NAME = re.compile(r"`(--?[A-Za-z0-9][\w-]*)")
#: the heading of a command's section in docs/options.md: "deel-batch worker-tokens", "deel-batch"
COMMAND_HEADING = re.compile(r"deel-batch(?: ([a-z][a-z0-9-]*))?")


# --- the library scripts --------------------------------------------------------------


def snippets() -> list[str]:
    """The ```python blocks of docs/library.md."""
    return BLOCK.findall((DOCS / "library.md").read_text())


def test_the_library_page_has_its_scripts() -> None:
    found = snippets()
    assert len(found) == 4
    assert [s.count("from jobs import") for s in found] == [1, 1, 1, 1]


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
    assert done.stdout.startswith("Success: no issues found in 4 source files")


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
    full, five, sync, revoke = outputs
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
    # 4: the revocations: the tokens the first three scripts made end; the unknown ID is a
    # 404, and the invalid row is not sent
    assert revoke.returncode == 1, revoke.stderr
    assert sorted(line.split()[0] for line in revoke.stdout.splitlines()) == sorted(
        i for i in ids if i != ids[2]
    )
    assert f"{ids[2]} 404 Worker not found" in revoke.stderr
    assert all(api.stats.workers[i].active is None for i in ids if i != ids[2])


# --- the options reference ------------------------------------------------------------


def shown_options(command: click.Command, ctx: click.Context) -> set[str]:
    """Every option name ``--help`` shows for the command: hidden options left out,
    ``--help`` itself included (click adds it to the command's params at ``get_params``)."""
    names: set[str] = set()
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def commands_shown() -> dict[str, set[str]]:
    """Each command's options, by name; ``""`` is the ``deel-batch`` group itself."""
    # The contexts --help would get: -h comes from the group's context settings.
    ctx = click.Context(main, info_name="deel-batch", **main.context_settings)
    found = {"": shown_options(main, ctx)}
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None, name
        if not command.hidden:
            sub = click.Context(command, info_name=name, parent=ctx, **command.context_settings)
            found[name] = shown_options(command, sub)
    return found


def documented_options(text: str) -> dict[str, set[str]]:
    """The options in the tables of each ``## deel-batch COMMAND`` section of options.md,
    read from the first cell of every table row (the option's own column)."""
    found: dict[str, set[str]] = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        heading, _, body = section.partition("\n")
        command = COMMAND_HEADING.fullmatch(heading)
        if command is None:
            continue  # not a command's section (the environment variables)
        names = found.setdefault(command.group(1) or "", set())
        for line in body.splitlines():
            if line.startswith("|") and not line.startswith("|---"):
                first_cell = re.split(r"(?<!\\)\|", line)[1]
                names.update(OPTION_NAME.findall(first_cell))
    return found


def mismatches(shown: dict[str, set[str]], documented: dict[str, set[str]]) -> list[str]:
    """What --help and the reference disagree on, in words."""
    problems = []
    for name in sorted(shown.keys() | documented.keys()):
        label = f"deel-batch {name}".strip()
        if name not in documented:
            problems.append(f"{label}: no '## {label}' section in docs/options.md")
            continue
        if name not in shown:
            problems.append(f"{label}: documented in docs/options.md, but no such command")
            continue
        for option in sorted(shown[name] - documented[name]):
            problems.append(f"{label} {option}: in --help, missing from docs/options.md")
        for option in sorted(documented[name] - shown[name]):
            problems.append(f"{label} {option}: in docs/options.md, not in --help")
    return problems


def test_every_option_in_help_is_in_the_reference_and_the_other_way_round() -> None:
    documented = documented_options((DOCS / "options.md").read_text())
    problems = mismatches(commands_shown(), documented)
    assert not problems, "\n".join(problems)
    assert {"worker-tokens", "compact", "simulate-api", ""} <= documented.keys()


def test_the_options_check_notices_a_missing_or_an_extra_row() -> None:
    text = (DOCS / "options.md").read_text()
    rate_row = next(line for line in text.splitlines() if line.startswith("| `--rate N` |"))
    shown = commands_shown()
    without = mismatches(shown, documented_options(text.replace(rate_row + "\n", "", 1)))
    assert without == ["deel-batch worker-tokens --rate: in --help, missing from docs/options.md"]
    extra = text.replace(rate_row, rate_row + "\n| `--no-such-option` | | |", 1)
    assert mismatches(shown, documented_options(extra)) == [
        "deel-batch worker-tokens --no-such-option: in docs/options.md, not in --help"
    ]


# --- links ----------------------------------------------------------------------------


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """The text without code: fenced blocks and inline code hold no links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped,
    spaces as dashes; a repeated heading gets -1, -2, …"""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        candidate, count = slug, 0
        while candidate in found:
            count += 1
            candidate = f"{slug}-{count}"
        found.add(candidate)
    return found


def broken_links(page: Path, root: Path = ROOT) -> Iterable[str]:
    """Each relative link of ``page`` whose file, or heading, does not exist."""
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not this test's business
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            yield f"{page.relative_to(root)}: {target} (no such file)"
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            yield f"{page.relative_to(root)}: {target} (no such heading)"


def test_every_relative_link_points_to_a_file_that_exists() -> None:
    problems = [problem for page in pages() for problem in broken_links(page)]
    assert not problems, "\n".join(problems)
    readme_links = LINK.findall(prose((ROOT / "README.md").read_text()))
    # the README points to every page of docs/
    assert {f"docs/{page.name}" for page in DOCS.glob("*.md")} <= set(readme_links)


def test_the_link_check_notices_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# There\n\n## A heading: it, too\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading-it-too) [ok](#here) [web](https://example.com)\n"
        "[gone](missing.md) [no heading](there.md#nowhere)\n"
        "`[in code](missing.md)`\n```sh\n[in a block](missing.md)\n```\n\n# Here\n"
    )
    found = list(broken_links(page, root=tmp_path))
    assert found == [
        "page.md: missing.md (no such file)",
        "page.md: there.md#nowhere (no such heading)",
    ]


# --- the README and the changelog -----------------------------------------------------


def test_the_readme_is_a_short_page_with_a_two_command_quick_start() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250  # the reference lives in docs/
    quick = text[text.index("\n## Quick start\n") :]
    start = quick.index("```sh\n") + len("```sh\n")
    block = quick[start : quick.index("```", start)]
    assert block.splitlines() == ["make demo", "make test"]


def test_the_changelog_s_newest_release_is_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    text = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, re.MULTILINE)
    assert released[0] == version
    assert "## [Unreleased]" in text.split(f"## [{version}]")[0]
