"""The installed distribution that ships this package (found, not named: the engine is generic)."""

from __future__ import annotations

import functools
from importlib import metadata

__all__ = ["JOBS_GROUP", "distribution"]

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
