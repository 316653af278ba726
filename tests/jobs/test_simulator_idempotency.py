"""Idempotency keys over real loopback HTTP: a 2xx answer is replayed for 24 h per (token,
key) without minting again; a repeat while the first is in progress is a 429 with a
Retry-After; and the faults that lose an answer after the mint end, with the key, in one
token per ID."""

from __future__ import annotations

import json

import aiohttp
import anyio
import pytest

from jobs._simulator import SimulatedApi, SimulatorConfig, serve
from tests.conftest import on_virtual_time
from tests.jobs.simclient import (
    PID,
    Answer,
    assert_container,
    assert_valid_201,
    delete,
    post,
    raw_post,
)

pytestmark = pytest.mark.anyio

OTHER = "00000000-0000-4000-8000-000000000003"
KEY = {"Idempotency-Key": "5b0d6e38-5d0f-4a1e-9f4e-0d1c6f3a2b11"}


def assert_replay_of(replay: Answer, first: Answer) -> None:
    assert replay.status == first.status
    assert replay.body == first.body
    assert replay.headers["x-original-request-id"] == first.headers["x-request-id"]
    assert replay.headers["x-request-id"] != first.headers["x-request-id"]


def one_token_each(api: SimulatedApi, *ids: str) -> None:
    for worker_id in ids:
        record = api.stats.workers[worker_id]
        assert len(record.issued) == 1, record
        assert record.active == record.issued[0]


async def test_a_repeat_gets_the_cached_answer_and_mints_nothing(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        first = await post(session, api, headers=KEY)
        token, _ = assert_valid_201(first)
        assert "x-original-request-id" not in first.headers
        replay = await post(session, api, headers=KEY)
        assert_replay_of(replay, first)
        assert api.stats.workers[PID].active == token
        assert replay.headers["X-Version"] == "2026-01-01"
        one_token_each(api, PID)
        stats = api.stats
        assert (stats.created, stats.replays, stats.key_reuse, stats.in_progress_429) == (
            1,
            1,
            0,
            0,
        )
        assert stats.per_profile == {PID: 1}  # a replay is not processed again
        # Without a key, or with another, the API mints again.
        assert_valid_201(await post(session, api))
        assert_valid_201(await post(session, api, headers={"Idempotency-Key": "another"}))
        assert len(stats.workers[PID].issued) == 3


@on_virtual_time
async def test_a_repeat_while_the_first_is_in_progress_is_a_429_with_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None, latency=1.0)) as api:
        answers: list[Answer] = []

        async def one() -> None:
            answers.append(await post(session, api, headers=KEY))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
        busy, first = sorted(answers, key=lambda a: a.status, reverse=True)
        assert first.status == 201
        body = assert_container(busy, 429)
        assert body["errors"] == [{"message": "Request conflict detected. Try again in sometime"}]
        assert busy.headers["Retry-After"] == "1"
        stats = api.stats
        assert (stats.in_progress_429, stats.window_429, stats.created) == (1, 0, 1)
        assert_replay_of(await post(session, api, headers=KEY), first)


@on_virtual_time
async def test_answers_are_kept_24_hours_on_the_servers_clock(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        first = await post(session, api, headers=KEY)
        await anyio.sleep(86_000)
        assert_replay_of(await post(session, api, headers=KEY), first)
        await anyio.sleep(400)  # 24 h after the first answer
        again = await post(session, api, headers=KEY)
        assert "x-original-request-id" not in again.headers
        assert len(api.stats.workers[PID].issued) == 2


async def test_keys_are_per_org_token_and_a_reused_key_is_counted(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        first = await post(session, api, headers=KEY)
        other_org = await post(session, api, headers={**KEY, "Authorization": "Bearer other"})
        assert "x-original-request-id" not in other_org.headers
        # The same key for another ID is replayed as Deel does, whatever the body: one key
        # per ID is the client's job, and `key_reuse` catches a client that fails at it.
        reused = await post(session, api, OTHER, headers=KEY)
        assert_replay_of(reused, first)
        assert OTHER not in api.stats.workers
        assert api.stats.key_reuse == 1


@pytest.mark.parametrize(("length", "status"), [(64, 201), (65, 400)])
async def test_a_key_is_at_most_64_characters(
    session: aiohttp.ClientSession, length: int, status: int
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        answer = await post(session, api, headers={"Idempotency-Key": "k" * length})
        assert answer.status == status
        if status == 400:
            body = assert_container(answer, 400)
            assert body["errors"] == [
                {"message": "Idempotency-Key must be at most 64 characters (got 65)"}
            ]
            assert api.stats.workers == {}


async def test_delete_ignores_idempotency_keys(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        assert (await delete(session, api, headers={"Idempotency-Key": "k" * 100})).status == 200
        assert (await delete(session, api, headers={"Idempotency-Key": "k" * 100})).status == 404


async def test_only_2xx_answers_are_kept(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["500", "429"]})) as api:
        assert_container(await post(session, api, headers=KEY), 500)
        assert (await post(session, api, headers=KEY)).status == 429
        first = await post(session, api, headers=KEY)
        assert_valid_201(first)
        assert_replay_of(await post(session, api, headers=KEY), first)
        body = json.dumps({"data": {"profile_id": "bad"}}).encode()
        async with session.post(
            api.base_url + "/workers/session",
            data=body,
            headers={"Authorization": "Bearer org-token", "Idempotency-Key": "fresh"},
        ) as resp:
            assert resp.status == 400
        assert_valid_201(await post(session, api, OTHER, headers={"Idempotency-Key": "fresh"}))


@on_virtual_time
async def test_mint_then_timeout_with_a_key_ends_in_one_token(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(rate=None, plan={PID: ["mint_then_timeout"]}, stall_seconds=30)
    async with serve(config) as api:
        with pytest.raises(TimeoutError):
            await post(session, api, headers=KEY, timeout=10)
        assert api.stats.created == 1  # minted, the answer lost
        replay = await post(session, api, headers=KEY)
        token, _ = assert_valid_201(replay)
        assert "x-original-request-id" in replay.headers
        one_token_each(api, PID)
        assert api.stats.workers[PID].active == token


@on_virtual_time
async def test_mint_then_timeout_without_a_key_mints_twice(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(rate=None, plan={PID: ["mint_then_timeout"]}, stall_seconds=30)
    async with serve(config) as api:
        with pytest.raises(TimeoutError):
            await post(session, api, timeout=10)
        token, _ = assert_valid_201(await post(session, api))
        record = api.stats.workers[PID]
        assert len(record.issued) == 2
        assert record.active == token
        assert record.replaced == record.issued[:1]  # the first, never seen, ended early


async def test_a_short_mint_then_timeout_ends_in_the_proxys_504(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(rate=None, plan={PID: ["mint_then_timeout"]}, stall_seconds=0.05)
    async with serve(config) as api:
        answer = await post(session, api, headers=KEY)
        assert answer.status == 504
        assert answer.headers["Content-Type"].startswith("text/html")
        assert_valid_201(await post(session, api, headers=KEY))
        one_token_each(api, PID)


async def test_mint_then_reset_cuts_after_the_headers_then_mid_body(
    session: aiohttp.ClientSession,
) -> None:
    plan = {PID: ["mint_then_reset"], OTHER: ["mint_then_reset"]}
    async with serve(SimulatorConfig(rate=None, plan=plan)) as api:
        after_headers = await raw_post(api, PID, key="a")
        mid_body = await raw_post(api, OTHER, key="b")
        for cut in (after_headers, mid_body):
            assert cut.status == 201
            assert cut.headers["content-type"].startswith("application/json")
            assert "x-request-id" in cut.headers
        length = int(mid_body.headers["content-length"])
        assert after_headers.body == b""
        assert len(mid_body.body) == length // 2
        # The mints happened: the retries with the same keys are replays, not new tokens.
        full = await post(session, api, OTHER, headers={"Idempotency-Key": "b"})
        assert_valid_201(full)
        assert full.body.startswith(mid_body.body)
        assert full.headers["x-original-request-id"] == mid_body.headers["x-request-id"]
        assert_valid_201(await post(session, api, headers={"Idempotency-Key": "a"}))
        assert api.stats.replays == 2
        one_token_each(api, PID, OTHER)


async def test_broken_chunked_201_then_a_replay(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["broken_chunked_201"]})) as api:
        cut = await raw_post(api, PID, key="k")
        assert cut.status == 201
        assert cut.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in cut.headers
        assert cut.body
        assert not cut.body.endswith(b"0\r\n\r\n")  # no last chunk
        full = await post(session, api, headers={"Idempotency-Key": "k"})
        assert_valid_201(full)
        assert full.headers["x-original-request-id"] == cut.headers["x-request-id"]
        one_token_each(api, PID)


async def test_a_client_that_retries_with_its_key_ends_with_one_token_per_id(
    session: aiohttp.ClientSession,
) -> None:
    """What a client test shows with the real client: retry each ID with its own key after
    every ambiguous failure, and the API mints exactly once per ID."""
    ids = [f"00000000-0000-4000-8000-00000000001{n}" for n in range(4)]
    plan = {
        ids[0]: ["mint_then_reset", "mint_then_reset"],
        ids[1]: ["broken_chunked_201"],
        ids[2]: ["drop", "500"],
        ids[3]: ["mint_then_timeout"],
    }
    config = SimulatorConfig(rate=None, plan=plan, stall_seconds=0.05)
    async with serve(config) as api:
        for worker_id in ids:
            headers = {"Idempotency-Key": f"run-1-{worker_id}"}
            for _ in range(5):
                try:
                    answer = await post(session, api, worker_id, headers=headers)
                except aiohttp.ClientError:
                    continue
                if answer.status == 201:
                    break
            assert answer.status == 201
        one_token_each(api, *ids)
        assert api.stats.created == 4


@on_virtual_time
async def test_a_hung_request_whose_client_left_holds_its_key_two_minutes(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(rate=None, plan={PID: ["stall"]}, stall_seconds=3600)
    async with serve(config) as api:
        with pytest.raises(TimeoutError):
            await post(session, api, headers=KEY, timeout=1)
        await anyio.sleep(0.1)  # the server sees the connection go
        busy = await post(session, api, headers=KEY)
        assert_container(busy, 429)
        assert busy.headers["Retry-After"] == "120"
        await anyio.sleep(120)
        assert_valid_201(await post(session, api, headers=KEY))
        assert api.stats.in_progress_429 == 1
