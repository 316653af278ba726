"""The public surface and the layers: exported names resolve, imports go one way only.

Like an import-linter contract, read from the source: ``batch.engine`` imports
no other layer; ``batch.input`` and ``batch.output`` import only the engine;
``batch.cli`` may import them all. Across layers, a module imports a layer's
package (its ``__all__``), never another layer's private module. Nothing in
``batch/`` imports the rest of this repository (``jobs``, ``tests``,
``examples``, ``bench``): the engine finds its jobs through entry points (one
per job, in ``batch.jobs``).
``jobs/`` and ``examples/`` import only what ``batch`` itself exports.

``batch/`` never speaks Deel: no word of `DEEL_WORDS` anywhere in it, in
code, strings, comments or docstrings. "token" is not on the list: it is the
generic word for an API credential and for the secrets such jobs mint, and
every job of this engine has one.

Which messages may name a command-line option (``--resume``):

- the engine's may not (`test_engine_messages_name_no_command_line_option`):
  they reach callers of the library, who pass settings, not options;
- the command line's may, of course;
- ``batch.input`` and ``batch.output`` may, because they serve the command
  line only. The library (``jobs/_library``) reads no input file and writes no
  results file: its callers hand it IDs and get results back as objects, so it
  needs neither layer's files and their refusals ("pass --resume to continue
  it") can only ever reach a user of the command line. Rewording ~60 such
  messages to name no option would make them worse for the only people who
  read them. The argument holds only while its premises do, so two tests keep
  it true: `test_the_library_reads_and_writes_no_files`, and
  `test_what_jobs_take_from_input_and_output_names_no_option` (what any module
  of ``jobs/`` imports from ``batch`` that is defined in ``batch.input`` or
  ``batch.output`` - today `KeyFilter` - and everything of those layers it
  uses hold no ``--option`` in a message).
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


#: what a command-line message looks like when it names an option
OPTION = re.compile(r"(^|[\s(])--[a-z]")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports resolved, ``importlib.import_module``
    and ``__import__`` of a literal name included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if node.module:
                found.append(module)
            else:  # from . import x: each x is a module or a name of the package
                found.extend(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")
        ):
            found.append(node.args[0].value)
    return found


def _first_party() -> set[str]:
    """The top-level names of this repository's own code, ``batch`` aside."""
    names = {p.stem for p in ROOT.glob("*.py")}
    for folder in ROOT.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and any(folder.glob("*.py")):
            names.add(folder.name)
    return names - {"batch"}


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
    "REVOKE_TOKENS",
    "WORKER_TOKENS",
    "AsyncRunOptions",
    "Failed",
    "Failure",
    "Issued",
    "Logger",
    "RunAborted",
    "RunInterrupted",
    "Revocation",
    "RevocationsAborted",
    "RevocationsInterrupted",
    "RevokeTokens",
    "Revoked",
    "RunOptions",
    "Stats",
    "WorkerToken",
    "WorkerTokenResults",
    "WorkerTokens",
    "create_worker_tokens",
    "create_worker_tokens_sync",
    "open_worker_tokens",
    "organization_quota",
    "revoke_worker_tokens",
    "revoke_worker_tokens_sync",
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
    from jobs._library import _api, _revoke, _types

    touched: set[type] = set()
    public = [
        jobs.open_worker_tokens,
        jobs.create_worker_tokens,
        jobs.create_worker_tokens_sync,
        jobs.revoke_worker_tokens,
        jobs.revoke_worker_tokens_sync,
    ]
    namespaces = {**vars(_api), **vars(_revoke), **vars(_types)}
    for function in public:
        for hint in typing.get_type_hints(function, globalns=namespaces).values():
            touched |= _classes_in(hint)
    for cls in (jobs.Issued, jobs.Revoked, jobs.Failed, jobs.Failure, jobs.WorkerTokenResults):
        for hint in typing.get_type_hints(cls, globalns=namespaces).values():
            touched |= _classes_in(hint)
        for prop in vars(cls).values():
            if isinstance(prop, property) and prop.fget is not None:
                hints = typing.get_type_hints(prop.fget, globalns=namespaces)
                touched |= _classes_in(hints.get("return"))
    aborts: tuple[BaseException, ...] = (
        jobs.RunAborted("why", jobs.Stats()),
        jobs.RunInterrupted([], jobs.Stats()),
        jobs.RevocationsAborted("why", jobs.Stats()),
        jobs.RevocationsInterrupted([], jobs.Stats()),
    )
    for exc in aborts:
        touched |= {type(value) for value in vars(exc).values()}
    ours = {cls for cls in touched if cls.__module__.startswith(("jobs.", "batch."))}
    assert {jobs.Issued, jobs.Revoked, jobs.Failed, jobs.Failure, jobs.WorkerTokenResults,
            jobs.Stats} <= ours  # fmt: skip
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
    for path in sorted((ROOT / "batch" / layer).rglob("*.py")):
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "batch" or len(parts) == 1 or parts[1] in (layer, "_distribution"):
                continue
            other = parts[1]
            if other not in ALLOWED[layer] or len(parts) > 2:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_first_party_names_are_found() -> None:
    assert {"jobs", "tests", "examples", "bench"} <= _first_party()


def test_batch_imports_nothing_else_of_this_repository() -> None:
    """``batch`` is the engine: the job, the tests, the examples and the benchmarks use it,
    never the other way round (the command line finds its jobs through entry points)."""
    others = _first_party()
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / "batch").rglob("*.py"))
        for module in _imports(path)
        if module.split(".")[0] in others
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("folder", ["jobs", "examples"])
def test_jobs_and_examples_use_only_what_batch_exports(folder: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for module in _imports(path)
        if module.startswith("batch.")
    ]
    assert offenders == []


#: Deel's vocabulary: none of it may appear in ``batch/`` (see the module's docstring)
DEEL_WORDS = (
    "Deel",
    "letsdeel",
    "organization token",
    "org token",
    "worker token",
    "profile",
    "admin:worker",
    "worker",
)


def _as_words(text: str) -> str:
    """``profileId`` reads as ``profile Id``: a word inside an identifier is a word."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)


def _word(phrase: str) -> re.Pattern[str]:
    """``phrase`` as whole words, case aside, its last one maybe plural, its words joined by
    spaces, ``_`` or ``-`` (``worker_tokens``, ``Worker-Token``, ``org token``)."""
    joined = r"[\s_\-]+".join(re.escape(word) for word in phrase.split())
    return re.compile(rf"(?<![a-z0-9])(?:{joined})s?(?![a-z0-9])", re.IGNORECASE)


_DEEL = [(phrase, _word(phrase)) for phrase in DEEL_WORDS]


def _deel_words(text: str) -> list[str]:
    words = _as_words(text)
    return [phrase for phrase, pattern in _DEEL if pattern.search(words)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see api.letsdeel.com", ["letsdeel"]),
        ("the Deel API", ["Deel"]),
        ("class LetsDeelClient", ["Deel"]),
        ("profile_id = row['profileId']", ["profile"]),
        ("WORKER_TOKENS", ["worker token", "worker"]),
        ("an organisation or an org-token", ["org token"]),
        ("the organization token and the admin:worker scope", ["organization token",
         "admin:worker", "worker"]),
        ("a workaround, a profiler, networker, deeply", []),
    ],
)  # fmt: skip
def test_deel_words_are_found_as_words(text: str, found: list[str]) -> None:
    assert _deel_words(text) == found


def test_batch_never_speaks_deel() -> None:
    """Code, strings, comments, docstrings, and any other file in the package."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {', '.join(words)}"
        for path in sorted((ROOT / "batch").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if (words := _deel_words(line))
    ]
    assert not offenders, "\n".join(["Deel words in batch/:", *offenders])


@pytest.mark.slow
def test_validating_a_file_does_not_load_the_http_client() -> None:
    # --dry-run over a million rows must stay small: aiohttp alone is ~23 MiB.
    code = "import sys, batch.cli, jobs; assert 'aiohttp' not in sys.modules, 'aiohttp loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _messages(tree: ast.AST) -> list[ast.Constant]:
    """The string constants of ``tree``, its docstrings aside."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_engine_messages_name_no_command_line_option() -> None:
    """Engine messages reach library callers too: no ``--option`` in any string the engine
    builds (docstrings aside). Front ends name their own settings (token_source, ...)."""
    offenders = []
    for path in sorted((ROOT / "batch" / "engine").rglob("*.py")):
        for node in _messages(ast.parse(path.read_text())):
            assert isinstance(node.value, str)
            if OPTION.search(node.value):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []


#: modules through which code reads or writes files
_FILE_MODULES = {"os", "io", "pathlib", "shutil", "tempfile", "csv", "gzip", "fileinput", "mmap"}


def test_the_library_reads_and_writes_no_files() -> None:
    """The first premise of the argument in the module's docstring."""
    offenders = []
    paths = sorted((ROOT / "jobs" / "_library").rglob("*.py"))
    assert paths
    for path in paths:
        offenders += [
            f"{path.relative_to(ROOT)} imports {module}"
            for module in _imports(path)
            if module.split(".")[0] in _FILE_MODULES
        ]
        offenders += [
            f"{path.relative_to(ROOT)}:{node.lineno} calls {ast.unparse(node.func)}"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("open", "read_text", "write_text", "read_bytes", "write_bytes")
        ]
    assert offenders == []


def _taken_from_batch(path: Path) -> set[str]:
    """The names ``path`` takes from the ``batch`` package (``from batch import X``, ``batch.X``)."""
    tree = ast.parse(path.read_text())
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "batch" and node.level == 0
        for alias in node.names
    }
    names |= {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "batch"
    }
    return names


def _serves_the_command_line(value: object) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module.startswith(("batch.input", "batch.output"))


def _option_words_reached(start: object) -> list[str]:
    """``--option`` words in the messages of ``start`` (a class or a function of
    ``batch.input`` or ``batch.output``) and of everything of those layers its code names:
    classes, functions and string constants, followed from module to module."""
    found: list[str] = []
    seen: set[int] = set()
    todo = [start]
    while todo:
        value = todo.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        module = sys.modules[getattr(value, "__module__", "")]
        path = Path(str(module.__file__))
        name = getattr(value, "__qualname__", "").split(".")[0]
        nodes = [
            node
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name == name
        ]
        assert nodes, f"{name} not found in {path}"
        for node in _messages(nodes[0]):
            assert isinstance(node.value, str)
            if OPTION.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
        for used in ast.walk(nodes[0]):
            if not isinstance(used, ast.Name) or used.id not in vars(module):
                continue
            target = vars(module)[used.id]
            if isinstance(target, str) and OPTION.search(target):
                found.append(f"{path.relative_to(ROOT)}: {used.id} = {target[:60]!r}")
            elif (isinstance(target, type) or callable(target)) and _serves_the_command_line(
                target
            ):
                todo.append(target)
    return found


def test_what_jobs_take_from_input_and_output_names_no_option() -> None:
    """The second premise of the argument in the module's docstring: what reaches a
    library caller of ``batch.input`` and ``batch.output`` names no option."""
    import batch

    taken = set()
    for path in sorted((ROOT / "jobs").rglob("*.py")):
        taken |= _taken_from_batch(path)
    assert {"Engine", "Stats"} <= taken  # the walk found the library's imports
    served = sorted(name for name in taken if _serves_the_command_line(getattr(batch, name)))
    offenders = [word for name in served for word in _option_words_reached(getattr(batch, name))]
    assert offenders == []
