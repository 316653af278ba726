"""The simulated Deel API: what ``--simulate``, ``deel-batch simulate-api``, the demo, the
tests and the benchmarks run against, on loopback.

It ships in the wheel because ``--simulate`` and ``simulate-api`` are features of the
installed program (a new admin's first run needs no token). Its parts: `_server` (the
aiohttp application and its rolling window), `_faults` (the bodies of each fault) and
`_cli` (the ``simulate-api`` command and the ``--simulate`` factory).
"""

from __future__ import annotations

from jobs._simulator._server import (
    FAULTS,
    PREFIX,
    SimulatedApi,
    SimulatorConfig,
    SimulatorStats,
    is_loopback,
    make_app,
    serve,
)

__all__ = [
    "FAULTS",
    "PREFIX",
    "SimulatedApi",
    "SimulatorConfig",
    "SimulatorStats",
    "is_loopback",
    "make_app",
    "serve",
]
