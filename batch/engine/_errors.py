"""Errors a user can cause: each carries a one-line message and an exit code."""

from __future__ import annotations

__all__ = ["BatchError", "Busy", "ConfigError", "HeldByAnotherRun", "InputError", "reason_of"]


class BatchError(Exception):
    """An error meant for the user: `str(err)` is one clear line, `exit_code` the contract's code."""

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(BatchError):
    """The input cannot be read as its format at all (no file, no header, no ID column)."""


class ConfigError(BatchError):
    """An option, the environment or a credential is unusable; found before any call."""


class HeldByAnotherRun(BatchError):
    """Another run holds the results file: this one leaves everything (metrics too) to it.

    Not a `ConfigError`: the command is right, its file is taken for now. Exit 75
    (sysexits EX_TEMPFAIL): nothing was done, try later; not 2, which says the command
    itself is wrong."""

    exit_code = 75


#: The former name, kept while batch.output and batch.cli still raise and catch it by it.
Busy = HeldByAnotherRun


def reason_of(exc: BaseException) -> str:
    """What went wrong, in one short line: the OS's words (``strerror``) or a library's
    ``reason`` when there is one, else the first line of the message, else the type."""
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
    return str(text).splitlines()[0][:200] if text else type(exc).__name__
