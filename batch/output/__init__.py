"""Writing results: record formats, the results and errors files, reading them back."""

from __future__ import annotations

from batch.output._file import OutputFile
from batch.output._records import format_for
from batch.output._resume import read_previous
from batch.output._writer import Sink

__all__ = ["OutputFile", "Sink", "format_for", "read_previous"]
