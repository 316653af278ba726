"""Bugs that sat at the engine's seams, each shown as a user would meet it.

- a garbled Retry-After from a server ended the run (exit 70, nothing written);
- --give-up-after counted idle time (a quiet input) as failing time;
- a signal during the last writes killed the run silently or overwrote the
  metrics with empty figures.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from batch import Engine, EngineOptions, Item, Result
from batch.output import Writer
from jobs import WORKER_TOKENS
from tests.conftest import StartSim, VirtualSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json")


@pytest.mark.parametrize("header", ["²", "soon", "-1", "Mon, 99 Foo 2026 99:99:99 GMT"])
def test_a_garbled_retry_after_is_ignored_and_the_record_is_ok(
    virtual_sim: VirtualSim, tmp_path: Path, header: str
) -> None:
    # On virtual time: the 429's refused window is held to for a second or two.
    ids = new_ids(2)
    sim = virtual_sim(rate=None, plan={ids[0]: ["429", "503_html"]}, retry_after=header)
    out = tmp_path / "out.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", ids)), "-o", str(out),
        "--simulate", *FAST, env=ENV,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    api = sim.api
    records = {r["profile_id"]: r for r in read_jsonl(out)}
    assert records[ids[0]]["status"] == "ok"
    assert records[ids[0]]["attempts"] == 3
    assert api.stats.issued[ids[0]] == [records[ids[0]]["token"]]


@pytest.mark.anyio
async def test_idle_time_before_a_failure_is_not_failing_time(sim: StartSim) -> None:
    """An input that sends nothing for two minutes, then an ID whose first answer is a 500:
    with --give-up-after 60 the run goes on (it used to abort: 'kept failing for 120s')."""
    ids = new_ids(2)
    api = sim(rate=None, plan={ids[1]: ["500"]})
    now = [0.0]  # the engine's clock: the quiet minutes pass on it, not in the test

    async def quiet_source() -> AsyncIterator[Item | Result]:
        yield Item(ids[0], 1)
        now[0] += 120.0
        yield Item(ids[1], 2)

    options = EngineOptions(base_url=api.base_url, token="org-token", rate=1000, give_up_after=60.0)
    engine = Engine(WORKER_TOKENS, options, clock=lambda: now[0], rand=lambda: 0.0)
    async with engine.results(quiet_source()) as results:
        got = [result async for result in results]
    assert engine.abort is None
    assert sorted((r.key, r.status, r.attempts) for r in got) == sorted(
        [(ids[0], "ok", 1), (ids[1], "ok", 2)]
    )


@pytest.mark.anyio
async def test_failing_time_still_ends_a_run_that_only_fails(sim: StartSim) -> None:
    ids = new_ids(1)
    api = sim(rate=None, plan={ids[0]: ["500"] * 4})
    now = [0.0]

    async def source() -> AsyncIterator[Item | Result]:
        yield Item(ids[0], 1)

    options = EngineOptions(base_url=api.base_url, token="t0ken", rate=1000, give_up_after=60.0)
    engine = Engine(WORKER_TOKENS, options, clock=lambda: now[0], rand=lambda: 0.0)

    async def tick() -> None:
        while True:
            await anyio.lowlevel.checkpoint()
            now[0] += 40.0  # each answer comes 40 s (on the engine's clock) after the last

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        async with engine.results(source()) as results:
            got = [result async for result in results]
        tg.cancel_scope.cancel()
    assert engine.abort is not None
    assert "kept failing" in engine.abort.message
    assert [r.status for r in got] == ["error"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_the_last_writes_is_noted_not_fatal(
    sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    """The signal arrives while the results are closed: every record and the metrics are
    still written, with the run's real figures, and the exit code says which signal."""
    ids = new_ids(5)
    api = sim(rate=None)
    close = Writer.close

    async def close_under_a_signal(self: Writer, *, finished: bool) -> None:
        signal.raise_signal(signum)
        await anyio.sleep(0.01)  # let the receiver see it before the writes go on
        await close(self, finished=finished)

    monkeypatch.setattr(Writer, "close", close_under_a_signal)
    out, metrics = tmp_path / "out.jsonl", tmp_path / "run.prom"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", ids)), "-o", str(out),
        "--metrics-file", str(metrics), "--base-url", api.base_url, *FAST, env=ENV,
    )  # fmt: skip
    assert res.exit_code == {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGHUP: 129}[signum]
    assert len(read_jsonl(out)) == 5
    finished = res.event("run_finished")
    assert finished["ok"] == 5
    assert finished["signal"] == signum.name
    text = metrics.read_text()
    assert 'deel_batch_records{status="ok"} 5.0' in text
    assert f"deel_batch_exit_code {float(res.exit_code)}" in text
    assert "before any call" not in res.stderr
