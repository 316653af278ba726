"""Writing results: record formats, the results and errors files, reading them back."""

from __future__ import annotations

from batch.output._atomic_file import AtomicFile
from batch.output._compact import Compaction, Plan, compact, maybe_compact, plan, written_by
from batch.output._current import CurrentTokens
from batch.output._ending import Ended, Ending, open_ending
from batch.output._file import OutputFile, Start
from batch.output._open import open_results
from batch.output._origin import Origin, origin_for, origin_of
from batch.output._paths import check_output_path
from batch.output._records import RunRecords, format_for
from batch.output._refuse_new import refuse_new
from batch.output._resume import ReadBack, Stopped, read_back, read_previous
from batch.output._room import NoRoom
from batch.output._secrets import holds_secrets
from batch.output._writer import CannotWrite, Writer

__all__ = [
    "AtomicFile",
    "CannotWrite",
    "Compaction",
    "CurrentTokens",
    "Ended",
    "Ending",
    "NoRoom",
    "Origin",
    "OutputFile",
    "Plan",
    "ReadBack",
    "RunRecords",
    "Start",
    "Stopped",
    "Writer",
    "check_output_path",
    "compact",
    "format_for",
    "holds_secrets",
    "maybe_compact",
    "open_ending",
    "open_results",
    "origin_for",
    "origin_of",
    "plan",
    "read_back",
    "read_previous",
    "refuse_new",
    "written_by",
]
