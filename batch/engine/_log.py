"""The logger the engine writes to: any structlog-style bound logger, or one that drops all."""

from __future__ import annotations

from typing import Any

__all__ = ["QuietLogger"]


class QuietLogger:
    """A logger that drops every event: for callers that must not print (a library, a dry run)."""

    def __getattr__(self, _name: str) -> Any:
        return _drop


def _drop(*_args: Any, **_kwargs: Any) -> None:
    return None
