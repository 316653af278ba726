"""What the package promises about itself: its license, its build floor, its two lock files.

(`make package` builds it and installs the wheel into a clean venv; these checks are the
cheap part, run with the tests.)
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: tools that must never be installed with the program itself
DEV_TOOLS = {"mypy", "ruff", "pytest", "pytest-timeout", "looptime", "trustme", "cryptography"}
DEV_TOOLS |= {"build", "twine", "setuptools", "aiolimiter"}


def _pins(name: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-r ")):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", line  # exact pins only
        pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def test_the_license_file_is_the_license_pyproject_declares() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_the_build_floor_builds_a_pep_639_license_and_make_package_uses_it() -> None:
    (requires,) = PYPROJECT["build-system"]["requires"]
    floor = Requirement(requires)
    assert floor.name == "setuptools"
    (spec,) = floor.specifier
    assert spec.operator == ">="
    # setuptools < 77 refuses `license = "MIT"`; make package builds with exactly the floor
    assert Version(spec.version) >= Version("77.0.1")
    assert _pins("requirements-dev.lock")["setuptools"] == Version(spec.version)


def test_runtime_pins_hold_no_development_tool() -> None:
    runtime = _pins("requirements.lock")
    assert not DEV_TOOLS & set(runtime)
    assert set(_pins("requirements-dev.lock")) >= DEV_TOOLS
    assert (ROOT / "requirements-dev.lock").read_text().count("-r requirements.lock\n") == 1


def test_every_dependency_is_pinned_within_its_range() -> None:
    runtime = _pins("requirements.lock")
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in runtime, f"{name} is not pinned in requirements.lock"
        assert requirement.specifier.contains(runtime[name]), (line, runtime[name])
    dev = _pins("requirements-dev.lock")
    assert not set(runtime) & set(dev), "a runtime pin repeated in the dev lock"
