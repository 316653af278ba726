"""API jobs for the batch engine, and the simulated Deel API they are tested against."""

from __future__ import annotations

from jobs._worker_tokens import WORKER_TOKENS, WorkerTokens

__all__ = ["WORKER_TOKENS", "WorkerTokens"]
