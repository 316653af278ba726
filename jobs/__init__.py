"""API jobs for the batch engine, and the simulated Deel API they are tested against."""

from __future__ import annotations

__all__: list[str] = []
