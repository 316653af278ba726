"""The public surface: every exported name resolves, and the engine stays generic."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["batch", "jobs"])
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert getattr(module, name).__module__.startswith(f"{package}."), name


@pytest.mark.parametrize("package", ["batch", "jobs"])
def test_private_modules_only(package: str) -> None:
    modules = [
        p.stem for p in (ROOT / package).glob("*.py") if p.stem not in ("__init__", "__main__")
    ]
    assert modules
    assert all(name.startswith("_") for name in modules), modules


def test_the_engine_never_mentions_deel() -> None:
    offenders = [
        f"{path.name}:{number}"
        for path in (ROOT / "batch").glob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "deel" in line.lower()
    ]
    assert offenders == []


def test_validating_a_file_does_not_load_the_http_client() -> None:
    # --dry-run over a million rows must stay small: aiohttp alone is ~23 MiB.
    code = "import sys, batch._cli, jobs; assert 'aiohttp' not in sys.modules, 'aiohttp loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
