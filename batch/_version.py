"""The installed distribution that ships this package (found, not named: the engine is generic)."""

from __future__ import annotations

import functools
from importlib import metadata

__all__ = ["distribution"]


@functools.cache
def distribution() -> tuple[str, str]:
    """(name, version) of the distribution providing ``batch``."""
    names = metadata.packages_distributions().get(__package__ or "batch") or []
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "batch", "0+unknown"
