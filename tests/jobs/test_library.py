"""The library API (jobs._library) against the simulated Deel API over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from jobs._library import (
    RunAborted,
    WorkerToken,
    WorkerTokenResults,
    create_worker_tokens,
    create_worker_tokens_sync,
    open_worker_tokens,
)
from jobs._simulator import SimulatedApi, SimulatorConfig, serve
from tests.conftest import WatchedApi, on_virtual_time

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
TOKEN = "org-token"
FAST: dict[str, Any] = {"token": TOKEN, "rate": 100.0}


#: on virtual time, how long a test waits to see that nothing more happens (it takes no time)
QUIET_S = 600.0


def ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


async def settled(before: set[asyncio.Task[Any]]) -> None:
    """Until the loop runs no task but ``before``'s: a run ended (asyncio closes a dropped
    generator in a task of its own, on the next turns of the loop) and, for an API served
    in this loop, each of its connections (a task of the server's), so that every request
    that was on the wire has landed. Nothing is left that could send."""
    with anyio.fail_after(5):
        await asyncio.sleep(0)  # the turn of the loop that starts closing a dropped generator
        while extra := asyncio.all_tasks() - before:
            await asyncio.wait(extra)


async def collect(results: WorkerTokenResults) -> list[WorkerToken]:
    return [result async for result in results]


async def run_into(got: list[WorkerToken], profile_ids: Any, **options: Any) -> WorkerTokenResults:
    """Run to the end, appending each result to ``got`` (kept if the run raises)."""
    async with open_worker_tokens(profile_ids, **options) as results:
        async for result in results:
            got.append(result)
    return results


async def test_list_of_ids_gives_one_ok_result_per_distinct_id(api: SimulatedApi) -> None:
    wanted = ids(5)
    given = [*wanted, wanted[0].upper()]  # the same ID again, in another case
    with anyio.fail_after(10):
        async with open_worker_tokens(given, base_url=api.base_url, **FAST) as results:
            got = await collect(results)
    assert sorted(r.profile_id for r in got) == sorted(wanted)
    now = dt.datetime.now(dt.UTC)
    for result in got:
        assert result.ok
        assert result.error is None
        assert result.attempts == 1
        assert result.line == wanted.index(result.profile_id) + 1
        assert api.stats.issued[result.profile_id] == [result.token]
        assert result.expires_at is not None
        assert result.expires_at > now
        assert result.token is not None
        assert result.token not in repr(result)
    assert api.stats.requests == 5
    assert results.stats.ok == 5
    assert results.stats.duplicates == 1
    assert results.stats.rows == 6
    assert results.abort_reason is None


async def test_async_iterable_input(api: SimulatedApi) -> None:
    async def source() -> AsyncIterator[str]:
        for profile_id in ids(3):
            await anyio.lowlevel.checkpoint()
            yield profile_id

    with anyio.fail_after(10):
        async with open_worker_tokens(source(), base_url=api.base_url, **FAST) as results:
            got = await collect(results)
    assert sorted(r.profile_id for r in got) == sorted(ids(3))
    assert all(r.ok for r in got)
    assert set(api.stats.issued) == set(ids(3))


async def test_invalid_id_is_an_invalid_input_result_and_is_not_sent(api: SimulatedApi) -> None:
    given = [ids(1)[0], "not-a-uuid ", ""]
    with anyio.fail_after(10):
        async with open_worker_tokens(given, base_url=api.base_url, **FAST) as results:
            got = {r.line: r for r in await collect(results)}
    assert got[1].ok
    for line, shown in ((2, "not-a-uuid"), (3, "")):
        result = got[line]
        assert not result.ok
        assert result.profile_id == shown
        assert result.attempts == 0
        assert result.token is None
        assert result.error is not None
        assert result.error.kind == "invalid_input"
    assert got[2].error is not None
    assert "is not a UUID" in got[2].error.message
    assert api.stats.requests == 1
    assert results.stats.invalid == 2


@on_virtual_time  # the backoff before the second attempt takes no real time
async def test_a_500_then_ok_is_ok_after_two_attempts() -> None:
    pid = ids(1)[0]
    async with serve(SimulatorConfig(rate=None, plan={pid: ["500"]})) as api:
        with anyio.fail_after(10):
            async with open_worker_tokens([pid], base_url=api.base_url, **FAST) as results:
                (result,) = await collect(results)
    assert result.ok
    assert result.attempts == 2
    assert results.stats.retries == 1
    assert api.stats.issued[pid] == [result.token]


async def test_a_permanent_error_is_a_result_not_an_exception() -> None:
    known, unknown = ids(2)
    async with serve(SimulatorConfig(rate=None, unknown_profiles={unknown})) as api:
        with anyio.fail_after(10):
            async with open_worker_tokens(
                [known, unknown], base_url=api.base_url, **FAST
            ) as results:
                got = {r.profile_id: r for r in await collect(results)}
    assert got[known].ok
    error = got[unknown].error
    assert error is not None
    assert (error.kind, error.http_status) == ("http", 404)
    assert got[unknown].attempts == 1


async def test_a_refused_token_raises_run_aborted_after_the_results() -> None:
    async with serve(SimulatorConfig(rate=None, revoke_after=3)) as api:
        got: list[WorkerToken] = []
        options = {"token": "t0ken", "base_url": api.base_url, "rate": 100, "concurrency": 2}
        with anyio.fail_after(10), pytest.raises(RunAborted) as caught:
            await run_into(got, ids(30), **options)
    assert "refused the token" in caught.value.reason
    assert "HTTP 401" in caught.value.reason
    assert "check the token argument" in caught.value.reason  # the caller's words, not the CLI's
    assert caught.value.exit_code == 3
    # The tokens issued before the refusal were handed out; a refused request says nothing
    # about its ID, so it gets no result (a re-run redoes it).
    assert [r.ok for r in got] == [True] * 3
    assert caught.value.stats.failed == 0
    assert api.stats.requests < 30  # the rest of the input was never sent


async def test_breaking_early_cancels_the_run_and_leaks_nothing(
    threaded_api: WatchedApi,
) -> None:
    api = threaded_api  # served from another thread: every task of this loop is the client's
    api.config.latency = 0.05
    before = asyncio.all_tasks()
    got: list[WorkerToken] = []
    with anyio.fail_after(5):
        async with open_worker_tokens(
            ids(200), base_url=api.base_url, rate=100, concurrency=4, token=TOKEN
        ) as results:
            async for result in results:
                got.append(result)
                if len(got) == 2:
                    break
    assert len(got) == 2
    assert asyncio.all_tasks() == before  # nothing goes on in the background
    # Its connections are closed: once the server has let go of them, the requests that
    # were on the wire when the run was cancelled have landed, and no more can come.
    with anyio.fail_after(10):
        while api.open_connections:  # noqa: ASYNC110 - counted in the server's thread
            await anyio.sleep(0.01)
    assert api.stats.requests < 20


async def test_an_exception_in_the_block_propagates_as_itself(api: SimulatedApi) -> None:
    async def fail_inside() -> None:
        async with open_worker_tokens(ids(50), base_url=api.base_url, **FAST) as results:
            async for _ in results:
                raise KeyError("boom")

    with anyio.fail_after(5), pytest.raises(KeyError, match="boom"):
        await fail_inside()


async def test_an_error_of_the_input_iterable_is_raised_after_its_results(
    api: SimulatedApi,
) -> None:
    async def source() -> AsyncIterator[str]:
        for profile_id in ids(2):
            yield profile_id
        raise OSError("the database went away")

    got: list[WorkerToken] = []
    with anyio.fail_after(10), pytest.raises(OSError, match="database went away"):
        await run_into(got, source(), base_url=api.base_url, **FAST)
    assert sorted(r.profile_id for r in got) == sorted(ids(2))
    assert all(r.ok for r in got)


@on_virtual_time  # the sleep below ends once the engine can do nothing more, however slow
async def test_a_slow_consumer_slows_the_run(api: SimulatedApi) -> None:
    concurrency = 2
    with anyio.fail_after(10):
        async with open_worker_tokens(
            ids(100), base_url=api.base_url, token=TOKEN, rate=1000, concurrency=concurrency
        ) as results:
            await results.__anext__()
            await anyio.sleep(0.3)  # the engine would finish all 100 in this time
            # at most 4 * concurrency IDs are taken ahead of the results read (here 1)
            assert api.stats.requests <= 1 + 4 * concurrency
            rest = await collect(results)
    assert len(rest) == 99
    assert api.stats.requests == 100


async def test_a_given_session_is_used_and_left_open(api: SimulatedApi) -> None:
    async with aiohttp.ClientSession() as session:
        for batch in (ids(2), ids(4)[2:]):
            with anyio.fail_after(10):
                async with open_worker_tokens(
                    batch, base_url=api.base_url, session=session, **FAST
                ) as results:
                    got = await collect(results)
            assert all(r.ok for r in got)
            assert not session.closed
    assert set(api.stats.issued) == set(ids(4))


@on_virtual_time  # the backoffs take no real time
async def test_nothing_is_logged_by_default_and_events_go_to_a_given_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def __getattr__(self, level: str) -> Any:
            return lambda event, **fields: events.append((event, fields))

    pid, other = ids(2)
    async with serve(SimulatorConfig(rate=None, plan={pid: ["500"], other: ["500"]})) as api:
        with anyio.fail_after(10):
            async with open_worker_tokens([pid], base_url=api.base_url, **FAST) as results:
                await collect(results)
            async with open_worker_tokens(
                [other], base_url=api.base_url, logger=Recorder(), **FAST
            ) as results:
                await collect(results)
    assert capsys.readouterr() == ("", "")
    assert ("retrying", other) in [(event, fields.get("key")) for event, fields in events]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token": ""}, "token is empty"),
        ({"token": "a b"}, "spaces"),
        ({"rate": 0}, "rate"),
        ({"concurrency": 0}, "concurrency"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout": -1}, "timeout"),
        ({"base_url": "http://api.example.com"}, "plain http"),
    ],
)
async def test_bad_options_raise_value_error_before_any_call(
    options: dict[str, Any], message: str
) -> None:
    given: dict[str, Any] = {"token": TOKEN, "base_url": "http://127.0.0.1:9"} | options
    with pytest.raises(ValueError, match=message):
        async with open_worker_tokens(ids(1), **given):
            pytest.fail("the block must not run")


def test_sync_wrapper_returns_results_in_input_order(threaded_api: SimulatedApi) -> None:
    given = [*ids(4), "nope", ids(1)[0]]
    got = create_worker_tokens_sync(given, base_url=threaded_api.base_url, **FAST)
    assert [r.line for r in got] == [1, 2, 3, 4, 5]
    assert [r.ok for r in got] == [True, True, True, True, False]
    assert got[4].error is not None
    assert got[4].error.kind == "invalid_input"
    for result in got[:4]:
        assert threaded_api.stats.issued[result.profile_id] == [result.token]


def test_sync_wrapper_abort_keeps_the_results_obtained(threaded_api: SimulatedApi) -> None:
    threaded_api.config.revoke_after = 2
    with pytest.raises(RunAborted) as caught:
        create_worker_tokens_sync(
            ids(5), base_url=threaded_api.base_url, token="t0ken", rate=100, concurrency=1
        )
    assert [r.ok for r in caught.value.results] == [True, True]


@pytest.mark.slow
def test_the_example_script_runs_against_the_simulated_api() -> None:
    done = subprocess.run(
        [sys.executable, "examples/migration_script.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("ok ")]) == 3
    assert any(line.startswith("failed  not-a-profile-id") for line in lines)
    assert lines[-1] == "done: 3 ok, 1 failed, 1 duplicate(s) skipped"
    assert "wt_" not in done.stdout  # the tokens themselves are never printed
    assert done.stderr == ""


async def test_the_async_generator_form_yields_one_result_per_id(api: SimulatedApi) -> None:
    got = [
        r async for r in create_worker_tokens([*ids(4), ids(1)[0]], base_url=api.base_url, **FAST)
    ]
    assert sorted(r.profile_id for r in got) == ids(4)
    assert all(r.ok for r in got)


@on_virtual_time
async def test_the_async_generator_form_can_stop_early_under_aclosing(api: SimulatedApi) -> None:
    before = asyncio.all_tasks()
    got: list[WorkerToken] = []
    with anyio.fail_after(10):
        async with contextlib.aclosing(
            create_worker_tokens(ids(40), base_url=api.base_url, concurrency=2, **FAST)
        ) as results:
            async for result in results:
                got.append(result)
                if len(got) == 2:
                    break
    sent = api.stats.requests
    await settled(before)  # the run and the server's connections are gone
    await anyio.sleep(QUIET_S)  # virtual: a long quiet time passes at once
    assert len(got) == 2
    assert api.stats.requests == sent  # nothing more was sent once it was closed
    assert sent < 40
