"""The command line: options, settings, logging, progress, metrics, one run of a job."""

from __future__ import annotations

from batch.cli._compact import compact_command
from batch.cli._logging import Redactor
from batch.cli._main import main, run

__all__ = ["Redactor", "compact_command", "main", "run"]
