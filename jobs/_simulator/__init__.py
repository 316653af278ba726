"""The simulated Deel API: what ``--simulate``, ``deel-batch simulate-api``, the demo, the
tests and the benchmarks run against, on loopback.

It ships in the wheel because ``--simulate`` and ``simulate-api`` are features of the
installed program (a new admin's first run needs no token). Its parts, one concept each:
`_server` (the aiohttp application), `_routes` (the gates every request meets), `_work`
(the mint, the revocation and the faults that come instead), `_window` (the rolling rate
limit), `_lifecycle` (one active token per worker), `_versions` (X-Version and its
headers), `_idempotency` (Idempotency-Key replays), `_picker` (which fault a request
gets), `_faults` (the bodies), `_respond` (answers broken on the wire), `_config` (the
knobs and the stats) and `_cli` (the ``simulate-api`` command and the ``--simulate``
factory). docs/simulator.md describes what it models and every knob.
"""

from __future__ import annotations

from jobs._simulator._lifecycle import PRIOR_TOKEN, WorkerTokens
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
from jobs._simulator._versions import PublishedVersion

__all__ = [
    "FAULTS",
    "PREFIX",
    "PRIOR_TOKEN",
    "PublishedVersion",
    "SimulatedApi",
    "SimulatorConfig",
    "SimulatorStats",
    "WorkerTokens",
    "is_loopback",
    "make_app",
    "serve",
]
