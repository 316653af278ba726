"""The public surface and the layers: exported names resolve, imports go one way only.

Like an import-linter contract, read from the source: ``batch.engine`` imports
no other layer; ``batch.input`` and ``batch.output`` import only the engine;
``batch.cli`` may import them all. Across layers, a module imports a layer's
package (its ``__all__``), never another layer's private module. ``jobs/`` and
``examples/`` import only what ``batch`` itself exports.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("engine", "input", "output", "cli")
#: which layers a layer may import (besides itself and the leaf batch._distribution)
ALLOWED = {
    "engine": set(),
    "input": {"engine"},
    "output": {"engine"},
    "cli": {"engine", "input", "output"},
}
PACKAGES = ["batch", "jobs", *(f"batch.{layer}" for layer in LAYERS)]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    top = package.split(".", maxsplit=1)[0]
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None, name
        members = typing.get_args(value) if isinstance(value, types.UnionType) else (value,)
        for member in members:  # a union alias (WorkerToken) is made of exported classes
            if isinstance(member, type) or (callable(member) and hasattr(member, "__code__")):
                # jobs re-exports what its callers touch of batch (Stats, Logger)
                assert member.__module__.startswith((f"{top}.", "batch.")), name


#: What a migration script may import from ``jobs``; a change here is a change of the library.
JOBS_API = {
    "WORKER_TOKENS",
    "Failed",
    "Failure",
    "Issued",
    "Logger",
    "RunAborted",
    "RunInterrupted",
    "Stats",
    "WorkerToken",
    "WorkerTokenResults",
    "WorkerTokens",
    "create_worker_tokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
    "organization_quota",
    "simulated_api",
}


def test_jobs_exports_the_library() -> None:
    import jobs

    assert set(jobs.__all__) == JOBS_API
    assert all(hasattr(jobs, name) for name in JOBS_API)


def _classes_in(hint: object) -> set[type]:
    """The classes a type hint names (``list[WorkerToken] | None`` → list, Issued, Failed)."""
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return {hint}
    found: set[type] = set()
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        found.add(origin)
    for arg in typing.get_args(hint):
        found |= _classes_in(arg)
    return found


def test_everything_a_library_caller_touches_is_exported_from_jobs() -> None:
    """The types in the library's signatures, its results' fields and its exceptions'
    attributes: each class of jobs/ among them can be imported from ``jobs``."""
    import jobs
    from jobs._library import _api, _types

    touched: set[type] = set()
    public = [jobs.open_worker_tokens, jobs.create_worker_tokens, jobs.create_worker_tokens_sync]
    namespaces = {**vars(_api), **vars(_types)}
    for function in public:
        for hint in typing.get_type_hints(function, globalns=namespaces).values():
            touched |= _classes_in(hint)
    for cls in (jobs.Issued, jobs.Failed, jobs.Failure, jobs.WorkerTokenResults):
        for hint in typing.get_type_hints(cls, globalns=namespaces).values():
            touched |= _classes_in(hint)
        for prop in vars(cls).values():
            if isinstance(prop, property) and prop.fget is not None:
                hints = typing.get_type_hints(prop.fget, globalns=namespaces)
                touched |= _classes_in(hints.get("return"))
    for exc in (jobs.RunAborted("why", jobs.Stats()), jobs.RunInterrupted([], jobs.Stats())):
        touched |= {type(value) for value in vars(exc).values()}
    ours = {cls for cls in touched if cls.__module__.startswith(("jobs.", "batch."))}
    assert {jobs.Issued, jobs.Failed, jobs.Failure, jobs.WorkerTokenResults, jobs.Stats} <= ours
    assert {cls.__name__ for cls in ours} <= set(jobs.__all__)


@pytest.mark.parametrize(
    "package",
    ["batch", "jobs", "jobs/_library", "jobs/_simulator", *(f"batch/{layer}" for layer in LAYERS)],
)
def test_private_modules_only(package: str) -> None:
    modules = [
        p.stem for p in (ROOT / package).glob("*.py") if p.stem not in ("__init__", "__main__")
    ]
    assert modules
    assert all(name.startswith("_") for name in modules), modules


def test_batch_holds_only_its_layers() -> None:
    packages = sorted(p.name for p in (ROOT / "batch").iterdir() if (p / "__init__.py").exists())
    assert packages == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_in_one_direction(layer: str) -> None:
    offenders = []
    for path in sorted((ROOT / "batch" / layer).glob("*.py")):
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "batch" or len(parts) == 1 or parts[1] in (layer, "_distribution"):
                continue
            other = parts[1]
            if other not in ALLOWED[layer] or len(parts) > 2:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


@pytest.mark.parametrize("folder", ["jobs", "examples"])
def test_jobs_and_examples_use_only_what_batch_exports(folder: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / folder).glob("*.py"))
        for module in _imports(path)
        if module.startswith("batch.")
    ]
    assert offenders == []


def test_the_engine_never_mentions_deel() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "batch").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "deel" in line.lower()
    ]
    assert offenders == []


@pytest.mark.slow
def test_validating_a_file_does_not_load_the_http_client() -> None:
    # --dry-run over a million rows must stay small: aiohttp alone is ~23 MiB.
    code = "import sys, batch.cli, jobs; assert 'aiohttp' not in sys.modules, 'aiohttp loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_engine_messages_name_no_command_line_option() -> None:
    """Engine messages reach library callers too: no ``--option`` in any string the engine
    builds (docstrings aside). Front ends name their own settings (token_source, ...)."""
    offenders = []
    for path in sorted((ROOT / "batch" / "engine").glob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and re.search(r"(^|[\s(])--[a-z]", node.value)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []
