"""The metrics file: Prometheus text format for node_exporter's textfile collector."""

from __future__ import annotations

import os
import re
import time

from batch._distribution import metric_prefix
from batch.engine import Logger, Stats

__all__ = ["foreign_to_metrics", "write_metrics"]


def write_metrics(
    path: str, stats: Stats, *, elapsed_s: float | None, exit_code: int | None, log: Logger
) -> None:
    """Write the run's figures to a temporary file and rename it over ``path`` (atomic).

    ``exit_code`` None means the run is still going. The time of the last ``ok``
    record is carried over from the previous file when this run had none, so an
    alert on its age keeps working through runs that fail. Each name starts with the
    distribution's prefix (`batch._distribution.metric_prefix`).
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

    def gauge(name: str, help_text: str, value: float) -> None:
        Gauge(f"{prefix}_{name}", help_text, registry=registry).set(value)

    records = Gauge(
        f"{prefix}_records", "Records by status in this run", ["status"], registry=registry
    )
    for status, value in stats.by_outcome().items():
        records.labels(status=status).set(value)
    gauge("requests", "HTTP requests sent", stats.requests)
    gauge("retries", "Retried attempts", stats.retries)
    gauge("rate_limited", "429 answers", stats.rate_limited)
    gauge("running", "1 while a run is in progress", 1 if exit_code is None else 0)
    if elapsed_s is not None:
        gauge("duration_seconds", "Length of the last run", elapsed_s)
    if exit_code is not None:
        gauge("exit_code", "Exit code of the last run", exit_code)
        gauge("last_run_timestamp_seconds", "When the last run ended", time.time())
    last_success = stats.last_success_unix or _previous(
        path, f"{prefix}_last_success_timestamp_seconds"
    )
    if last_success is not None:
        gauge("last_success_timestamp_seconds", "When the last ok record was made", last_success)
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


def _previous(path: str, name: str) -> float | None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1 << 20)
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None
