"""Records: a Result as a JSONL object or a CSV row, and back (for --resume)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from batch.engine import Job, Result, error_fields

__all__ = ["RecordFormat", "format_for"]


#: Built once: json.dumps() with non-default options builds a new encoder on every call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))


def format_for(path: str) -> str:
    """``csv`` for a ``.csv`` name, else ``jsonl`` (standard output included)."""
    return "csv" if path.lower().endswith(".csv") else "jsonl"


class RecordFormat:
    """Turns results into lines of one format, for one job's fields."""

    def __init__(self, fmt: str, job: Job, *, errors: bool = False) -> None:
        """``errors``: the --errors file's layout, without the success fields; its CSV
        puts the key first, so that the file is valid input for a re-run."""
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown record format {fmt!r}")
        self.fmt = fmt
        self.key_name = job.key_name
        self.fields: tuple[str, ...] = () if errors else tuple(job.fields)
        self.request_id_name = job.request_id_field
        failure = [f"error_{name}" for name in error_fields(job.request_id_field)]
        self.columns = (
            [job.key_name, "attempts", "line", *failure]
            if errors
            else [job.key_name, "status", *job.fields, "attempts", "line", *failure]
        )

    def record(self, result: Result) -> dict[str, Any]:
        out: dict[str, Any] = {self.key_name: result.key, "status": result.status}
        for name in self.fields:
            if name in result.data:
                out[name] = result.data[name]
        out["attempts"] = result.attempts
        out["line"] = result.line
        if result.error is not None:
            out["error"] = result.error.as_dict(self.request_id_name)
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
        return _csv_line([flat.get(column, "") for column in self.columns])


def flatten(record: dict[str, Any]) -> dict[str, str]:
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
