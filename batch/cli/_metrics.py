"""The metrics file: Prometheus text format for node_exporter's textfile collector."""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

from batch._distribution import metric_prefix
from batch.engine import Logger, Stats

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["foreign_to_metrics", "write_metrics"]


def write_metrics(
    path: str, stats: Stats, *, elapsed_s: float | None, exit_code: int | None, log: Logger
) -> None:
    """Write the run's figures to a temporary file and rename it over ``path`` (atomic).

    ``exit_code`` None means the run is still going. The times of the last success and
    of the last complete run, and the earliest expiry, are carried over from the
    previous file when this run did not set them, so an alert on their age keeps
    working through runs that fail. Each name starts with the distribution's prefix
    (`batch._distribution.metric_prefix`).
    """
    if foreign_to_metrics(path):
        log.warning(
            "metrics_file_failed",
            path=path,
            error="it is not a metrics file; it was left as it is",
        )
        return
    # Imported here: prometheus_client is only needed when a metrics file is asked for.
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile  # noqa: PLC0415

    prefix = metric_prefix()
    registry = CollectorRegistry()
    previous = _read(path)

    def gauge(name: str, help_text: str, value: float) -> None:
        Gauge(f"{prefix}_{name}", help_text, registry=registry).set(value)

    records = Gauge(
        f"{prefix}_records", "Records by status in this run", ["status"], registry=registry
    )
    for status, value in stats.by_outcome().items():
        records.labels(status=status).set(value)
    gauge("requests", "HTTP requests sent", stats.requests)
    gauge("retries", "Retried attempts", stats.retries)
    gauge("rate_limited", "429 answers of the API's rate limit", stats.rate_limited)
    gauge(
        "failed_transient",
        "Failed records of this run that a later run may fix (5xx, timeouts, a stop); "
        "the other failed records are the API's final answers",
        stats.transient,
    )
    gauge("running", "1 while a run is in progress", 1 if exit_code is None else 0)
    if elapsed_s is not None:
        gauge("duration_seconds", "Length of the last run", elapsed_s)
    if exit_code is not None:
        gauge("exit_code", "Exit code of the last run", exit_code)
        gauge("last_run_timestamp_seconds", "When the last run ended", time.time())
    # Carried over from the previous file when this run did not set them, so that an
    # alert on their age keeps working through the runs that do not.
    carried: tuple[tuple[str, str, float | None], ...] = (
        ("last_success_timestamp_seconds", _LAST_SUCCESS, stats.last_success_unix),
        ("last_complete_timestamp_seconds", _LAST_COMPLETE, stats.last_complete_unix),
        ("tokens_earliest_expiry_timestamp_seconds", _EARLIEST_EXPIRY, stats.earliest_expiry_unix),
    )
    for name, help_text, now in carried:
        kept = now if now is not None else _previous(previous, f"{prefix}_{name}")
        if kept is not None:
            gauge(name, help_text, kept)
    _api_version(registry, prefix, stats, previous)
    try:
        write_to_textfile(path, registry)
    except OSError as exc:
        log.warning("metrics_file_failed", path=path, error=exc.strerror)


def foreign_to_metrics(path: str) -> bool:
    """Whether ``path`` holds something a metrics file would destroy (results, an input):
    not empty, and not Prometheus text (which starts with a ``#`` comment line), or not a
    regular file at all (``/dev/null``: a rename over it would replace the device)."""
    if os.path.lexists(path) and not os.path.isfile(path):
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return False
    return bool(head.strip()) and not head.lstrip().startswith(b"#")


_LAST_SUCCESS = (
    "When the last run that exited 0 ended: every record it made was ok (a run with "
    "nothing to issue included)"
)
_LAST_COMPLETE = (
    "When the last run ended after which every valid ID of its input had its final "
    "answer, a current token or a permanent error (a 4xx but 401/403/429, invalid "
    "input), exit 1 included; never set by an aborted, interrupted or transiently "
    "failing run"
)
_EARLIEST_EXPIRY = (
    "The earliest expiry among the current tokens (the newest ok record) of the IDs "
    "the last run read, as that run left the results file"
)
_DEPRECATED = "1 when the API's answers said the API version called is deprecated, else 0"
_SUNSET = "When the API version called stops working, as the API's Sunset header says"


def _api_version(registry: CollectorRegistry, prefix: str, stats: Stats, previous: str) -> None:
    """The API version's lifecycle, labelled with the version: what this run's answers
    said, or, when none said anything (no answer at all), what the previous file held."""
    from prometheus_client import Gauge  # noqa: PLC0415 - see write_metrics

    deprecated_name, sunset_name = (
        f"{prefix}_api_version_deprecated",
        f"{prefix}_api_version_sunset_timestamp_seconds",
    )
    deprecated = Gauge(deprecated_name, _DEPRECATED, ["version"], registry=registry)
    sunset = Gauge(sunset_name, _SUNSET, ["version"], registry=registry)
    seen = stats.deprecation or stats.api_version
    if seen is not None:
        deprecated.labels(version=seen.name).set(1 if seen.deprecated else 0)
        if seen.sunset is not None:
            sunset.labels(version=seen.name).set(seen.sunset.timestamp())
        return
    for version, value in _previous_labelled(previous, deprecated_name):
        deprecated.labels(version=version).set(value)
    for version, value in _previous_labelled(previous, sunset_name):
        sunset.labels(version=version).set(value)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(1 << 20)
    except (OSError, UnicodeDecodeError):
        return ""


def _previous(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None


def _previous_labelled(text: str, name: str) -> list[tuple[str, float]]:
    """(version, value) of each ``name{version="…"} value`` line of the previous file."""
    found = []
    for match in re.finditer(rf'^{re.escape(name)}\{{version="([^"\\]*)"\}} (\S+)$', text, re.M):
        try:
            found.append((match.group(1), float(match.group(2))))
        except ValueError:
            continue
    return found
