"""Shared fixtures: the simulated API on loopback (in a thread) and an in-process CLI runner."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio.from_thread
import looptime
import pytest

import jobs._simulate_cli
from jobs._simulator import SimulatedApi, SimulatorConfig, serve


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


StartSim = Callable[..., SimulatedApi]


@pytest.fixture
def sim() -> Iterator[StartSim]:
    """``sim(**config)`` serves a simulated API on 127.0.0.1 from a background event loop."""
    with anyio.from_thread.start_blocking_portal() as portal, contextlib.ExitStack() as stack:

        def start(ssl_context: ssl.SSLContext | None = None, **config: Any) -> SimulatedApi:
            server = serve(SimulatorConfig(**config), ssl_context=ssl_context)
            cm = portal.wrap_async_context_manager(server)
            return stack.enter_context(cm)

        yield start


class _VirtualTimePolicy(asyncio.DefaultEventLoopPolicy):
    """Every new event loop keeps virtual time (looptime): it jumps to the next timer
    whenever the loop has nothing to do, so a busy machine cannot make a run late."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        assert isinstance(loop, asyncio.BaseEventLoop)
        return looptime.patch_event_loop(loop, start=0)


class InRunSim:
    """The simulated API that ``--simulate`` serves inside the run's own event loop."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.served: list[SimulatedApi] = []

    @property
    def api(self) -> SimulatedApi:
        (api,) = self.served
        return api


VirtualSim = Callable[..., InRunSim]


@pytest.fixture
def virtual_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualSim]:
    """``virtual_sim(**config)``: a run with ``--simulate`` on virtual time.

    The CLI's event loop keeps virtual time, and ``--simulate`` serves this simulated API
    in that same loop (over real loopback HTTP), so the pacer's clock and the API's rolling
    window read one clock: what a test sees no longer depends on how busy the machine is.
    Read ``.api.stats`` after the run.
    """
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_VirtualTimePolicy())

    def start(**config: Any) -> InRunSim:
        sim = InRunSim(SimulatorConfig(**config))

        @contextlib.asynccontextmanager
        async def simulated_api() -> AsyncIterator[str]:
            async with serve(sim.config) as api:
                sim.served.append(api)
                yield api.base_url

        monkeypatch.setattr(jobs._simulate_cli, "simulated_api", simulated_api)
        return sim

    try:
        yield start
    finally:
        asyncio.set_event_loop_policy(previous)
