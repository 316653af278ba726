"""The library's revoke-tokens forms against the simulated API: the same options, checks
and exceptions as the worker-tokens ones, typed results of their own."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import anyio
import anyio.from_thread
import pytest

from jobs import (
    Failed,
    Revocation,
    RevocationsAborted,
    Revoked,
    RunAborted,
    create_worker_tokens,
    revoke_worker_tokens,
    revoke_worker_tokens_sync,
)
from jobs._simulator import PRIOR_TOKEN, SimulatedApi
from tests.conftest import WatchedApi
from tests.jobs.test_library import FAST, ids

pytestmark = pytest.mark.anyio


async def test_each_distinct_id_gets_one_revocation(api: SimulatedApi) -> None:
    wanted = ids(4)
    api.config.unknown_profiles = {wanted[3]}
    before = dt.datetime.now(dt.UTC)
    with anyio.fail_after(10):
        got: list[Revocation] = [
            r
            async for r in revoke_worker_tokens(
                [*wanted, wanted[0].upper(), "nope"], base_url=api.base_url, **FAST
            )
        ]
    by_id = {r.profile_id: r for r in got}
    assert sorted(by_id) == sorted([*wanted, "nope"])
    for pid in wanted[:3]:
        result = by_id[pid]
        assert isinstance(result, Revoked)
        assert result.ok
        assert before <= result.revoked_at <= dt.datetime.now(dt.UTC)
        assert result.revoked_at.tzinfo is not None
        assert api.stats.workers[pid].revoked == [PRIOR_TOKEN]
    unknown = by_id[wanted[3]]
    assert isinstance(unknown, Failed)
    assert (unknown.error.kind, unknown.error.http_status, unknown.error.message) == (
        "http",
        404,
        "Worker not found",
    )
    assert by_id["nope"].error is not None
    assert by_id["nope"].error.kind == "invalid_input"
    assert sorted(api.stats.per_worker) == sorted(wanted)  # DELETEs only, one per ID


async def test_a_mint_then_a_revocation_ends_the_token_minted(api: SimulatedApi) -> None:
    minted = {
        r.profile_id: r.token
        async for r in create_worker_tokens(ids(3), base_url=api.base_url, **FAST)
    }
    async for result in revoke_worker_tokens(ids(3), base_url=api.base_url, **FAST):
        assert result.ok
        assert api.stats.workers[result.profile_id].revoked == [minted[result.profile_id]]


async def test_a_break_stops_the_revocations(api: SimulatedApi) -> None:
    async with contextlib.aclosing(
        revoke_worker_tokens(ids(40), base_url=api.base_url, concurrency=1, **FAST)
    ) as results:
        async for _ in results:
            break
    assert api.stats.revocations < 40


def test_the_sync_form_returns_every_result_in_input_order(threaded_api: WatchedApi) -> None:
    got = revoke_worker_tokens_sync([*ids(3), "nope"], base_url=threaded_api.base_url, **FAST)
    assert [r.line for r in got] == [1, 2, 3, 4]
    assert [r.ok for r in got] == [True, True, True, False]


def test_every_answer_the_same_refusal_aborts_with_the_api_s_words(
    threaded_api: WatchedApi,
) -> None:
    threaded_api.config.unknown_profiles = set(ids(60))
    with pytest.raises(RunAborted) as caught:
        revoke_worker_tokens_sync(ids(60), base_url=threaded_api.base_url, **FAST)
    assert isinstance(caught.value, RevocationsAborted)  # its results are Revocations
    assert "HTTP 404 ('Worker not found') and none succeeded" in caught.value.reason
    assert "check that the IDs belong to this API and account (the base_url argument" in (
        caught.value.reason
    )
    assert 20 <= len(caught.value.results) <= 28
    assert all(not r.ok for r in caught.value.results)


@pytest.mark.parametrize("form", [revoke_worker_tokens, revoke_worker_tokens_sync])
def test_the_same_argument_checks_as_the_other_forms(form: Any) -> None:
    with pytest.raises(TypeError, match="must be an iterable of profile IDs, not a single str"):
        form(ids(1)[0], token="t")
    with pytest.raises(TypeError, match="unexpected keyword argument 'tokne'"):
        form(ids(1), tokne="t")
    with pytest.raises(ValueError, match="rate"):
        form(ids(1), token="t", rate=0)
