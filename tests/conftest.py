"""Shared fixtures: the simulated API on loopback (in a thread) and an in-process CLI runner."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import anyio.from_thread
import pytest

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
