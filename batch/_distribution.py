"""The installed distribution that ships this package (found, not named: the engine is generic)."""

from __future__ import annotations

import functools
from importlib import metadata

__all__ = ["JOBS_GROUP", "distribution", "metric_prefix", "user_agent"]

JOBS_GROUP = "batch.jobs"


@functools.cache
def distribution() -> tuple[str, str]:
    """(name, version) of the distribution that registers the jobs.

    Read from the jobs' entry points: a few milliseconds, where scanning every
    installed distribution's files (packages_distributions) takes sixty.
    """
    for entry in metadata.entry_points(group=JOBS_GROUP):
        if entry.dist is not None:
            return entry.dist.name, entry.dist.version
    return "batch", "0+unknown"


def user_agent(detail: str = "") -> str:
    """``name/version``, and ``(detail)`` after it when given."""
    name, version = distribution()
    return f"{name}/{version}" + (f" ({detail})" if detail else "")


def metric_prefix() -> str:
    """Prometheus metric names start with the distribution's name, dashes as underscores."""
    return distribution()[0].replace("-", "_").replace(".", "_")
