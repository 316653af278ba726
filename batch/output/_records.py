"""Records: a Result as a JSONL object or a CSV row, and back (for --resume).

CSV cells that echo input (an invalid row's value, error messages, any column
not known to be exact) are neutralised against spreadsheet formulas
(`batch.engine.neutralise`); the status, counts, the API's values (the job's
fields, error kind, HTTP status, request ID) and valid keys are written as they
are, so a program reading the CSV gets a token exactly. JSONL is not a
spreadsheet format and is never changed.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TypeAlias

from batch.engine import Job, Result, error_fields, neutralise

__all__ = ["OPTIONAL", "JsonObject", "RecordFormat", "RunRecords", "format_for"]

#: a record as JSON: its values are written out (``json``, ``str()``), never looked into
JsonObject: TypeAlias = dict[str, object]


#: Built once: json.dumps() with non-default options builds a new encoder on every call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))

#: Columns that never echo input: ours, or the API's (with the job's fields and request ID).
_EXACT = (
    "status",
    "attempts",
    "line",
    "error_kind",
    "error_http_status",
    "origin",
    "rate_limited",
)
#: Columns added to the CSV layout after 0.1.0: a file without them is still a results file.
OPTIONAL = ("origin", "rate_limited")


def format_for(path: str) -> str:
    """``csv`` for a ``.csv`` name, else ``jsonl`` (standard output included)."""
    return "csv" if path.lower().endswith(".csv") else "jsonl"


@dataclass(frozen=True, slots=True)
class RunRecords:
    """What every record of a run holds besides its result, and what a results file it
    resumes must match: the job's fields, the ``origin`` stamp (`batch.output._origin`;
    None: not stamped) and the input columns carried along (--keep-columns)."""

    job: Job
    origin: str | None = None
    carried_columns: tuple[str, ...] = ()
    #: the stamps earlier versions gave records of ``origin`` (`batch.output._origin.Origin`)
    earlier_origins: frozenset[str] = frozenset()


class RecordFormat:
    """Turns results into lines of one format, for one run's records."""

    def __init__(
        self,
        fmt: str,
        records: RunRecords,
        *,
        errors: bool = False,
        header: list[str] | None = None,
    ) -> None:
        """``errors``: the --errors file's layout, without the success fields and the
        origin; its CSV puts the key first, so that the file is valid input for a re-run.
        ``header``: the header of an existing CSV file, whose layout appended rows must
        keep. The carried input columns are CSV columns after the fixed ones, an ``input``
        object in JSONL."""
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown record format {fmt!r}")
        job = records.job
        self.fmt = fmt
        self.key_name = job.key_name
        self.fields: tuple[str, ...] = () if errors else tuple(job.fields)
        self.request_id_name = job.request_id_field
        self.origin = None if errors else records.origin
        failure = [f"error_{name}" for name in error_fields(job.request_id_field)]
        #: the job's own columns (the layout without carried input columns)
        self.fixed = (
            [job.key_name, "attempts", "line", *failure]
            if errors
            else [job.key_name, "status", *job.fields, "attempts", "line", *failure, *OPTIONAL]
        )
        self.carried = records.carried_columns
        self.columns = list(header) if header else [*self.fixed, *self.carried]
        #: CSV columns written as they are (the key only when valid); the others are neutralised
        self._exact_and_key = frozenset(
            {*_EXACT, f"error_{job.request_id_field}", *self.fields, job.key_name}
        )

    def carried_in(self, header: list[str]) -> tuple[str, ...] | None:
        """The input columns a CSV header carries after the job's own (--keep-columns), or
        None when it is not this job's layout. Columns added since a file was written
        (`OPTIONAL`) may be missing: files of earlier versions stay readable, and rows are
        appended to them in their own layout."""
        own = 0
        while own < len(header) and header[own] in self.fixed:
            own += 1
        present = header[:own]
        required = [column for column in self.fixed if column not in OPTIONAL]
        if [c for c in self.fixed if c in present] != present or not all(
            column in present for column in required
        ):
            return None
        return tuple(header[own:])

    def accepts(self, header: list[str]) -> bool:
        """Whether a CSV header is this job's layout (see `carried_in`)."""
        return self.carried_in(header) is not None

    def record(self, result: Result) -> JsonObject:
        out: JsonObject = {self.key_name: result.key, "status": result.status}
        for name in self.fields:
            if name in result.data:
                out[name] = result.data[name]
        out["attempts"] = result.attempts
        out["rate_limited"] = result.rate_limited
        out["line"] = result.line
        if result.error is not None:
            out["error"] = result.error.as_dict(self.request_id_name)
        if self.origin is not None:
            out["origin"] = self.origin
        if self.carried:
            out["input"] = dict(result.columns or {})
        return out

    def header(self) -> str:
        return _csv_line(self.columns) if self.fmt == "csv" else ""

    def raw_line(self, fields: list[str]) -> str:
        """A CSV line of fields as they are (carried over from an earlier file)."""
        return _csv_line(fields)

    def line(self, result: Result) -> str:
        record = self.record(result)
        if self.fmt == "jsonl":
            return _JSON.encode(record) + "\n"
        flat = flatten(record)
        if result.error is not None and result.error.kind == "invalid_input":
            # The value as read: neutralised so that reading it back gives it exactly.
            flat[self.key_name] = neutralise(flat[self.key_name], reversible=True)
        exact = self._exact_and_key
        cells = [(column, flat.get(column, "")) for column in self.columns]
        return _csv_line([v if c in exact else neutralise(v) for c, v in cells])


def flatten(record: JsonObject) -> dict[str, str]:
    """``error.kind`` → ``error_kind`` etc., every value as one line of text.

    Line breaks are escaped (``\\n``) so that a record is always one physical
    line: --resume then reads a damaged file line by line, losing only what is
    damaged.
    """
    out: dict[str, str] = {}
    for name, value in record.items():
        if name == "error" and isinstance(value, dict):
            for sub, subvalue in value.items():
                out[f"error_{sub}"] = _one_line(subvalue)
        elif name == "input" and isinstance(value, dict):  # --keep-columns: by their names
            for sub, subvalue in value.items():
                out[sub] = _one_line(subvalue)
        else:
            out[name] = _one_line(value)
    return out


def _one_line(value: object) -> str:
    if value is None:
        return ""
    return str(value).replace("\r", "\\r").replace("\n", "\\n")


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
