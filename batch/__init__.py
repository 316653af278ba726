"""A generic engine for bulk API jobs: read IDs, pace and retry requests, write one record each."""

from __future__ import annotations

from batch._errors import BatchError, ConfigError, InputError

__all__ = ["BatchError", "ConfigError", "InputError"]
