"""Fixtures of the tests of jobs/: a real aiohttp client for calling the simulated API, and
the simulated API served unpaced in the test's loop (``api``) or from another thread
(``threaded_api``, for the sync wrappers' own event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import anyio.from_thread
import pytest

from jobs._simulator import SimulatedApi, SimulatorConfig, serve
from tests.conftest import WatchedApi, serve_watched


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def api() -> AsyncIterator[SimulatedApi]:
    async with serve(SimulatorConfig(rate=None)) as served:
        yield served


@pytest.fixture
def threaded_api() -> Iterator[WatchedApi]:
    """A simulated API served from another thread, for the sync wrapper's own event loop."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_watched(SimulatorConfig(rate=None))) as served,
    ):
        yield served
