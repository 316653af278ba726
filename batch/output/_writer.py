"""Where results go: the results file, the errors file, and the redactor's memory."""

from __future__ import annotations

from collections.abc import Callable

from batch.engine import Job, Result
from batch.output._file import OutputFile
from batch.output._records import RecordFormat, errors_columns, format_for

__all__ = ["Sink"]


class Sink:
    """Called with each result: one line in the results file, failures also in the errors file."""

    def __init__(
        self,
        job: Job,
        out: OutputFile,
        errors: OutputFile | None,
        remember_secret: Callable[[str], None],
    ) -> None:
        self._secret_fields = job.secret_fields
        self._out = out
        self._fmt = RecordFormat(format_for(out.path), job.key_name, job.fields)
        self._errors = errors
        self._errors_fmt = RecordFormat(
            "csv", job.key_name, (), columns=errors_columns(job.key_name)
        )
        self._remember_secret = remember_secret
        if self._fmt.fmt == "csv" and out.size == 0:
            out.write(self._fmt.header())
        if errors is not None:
            errors.write(self._errors_fmt.header())

    def __call__(self, result: Result) -> None:
        for name in self._secret_fields:
            value = result.data.get(name)
            if isinstance(value, str):
                self._remember_secret(value)
        self._out.write(self._fmt.line(result))
        if not result.ok:
            self.errors_only(result)

    def errors_only(self, result: Result) -> None:
        """A failure already recorded in the results file (--resume): the errors file only."""
        if self._errors is not None:
            self._errors.write(self._errors_fmt.line(result))
