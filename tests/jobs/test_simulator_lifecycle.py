"""One active token per worker, over real loopback HTTP: a mint replaces the previous token,
`DELETE /workers/{id}/session` ends it, a second DELETE or an unknown worker is a 404 that
says which; the gates (token, window, latency, faults) apply to DELETE as to POST."""

from __future__ import annotations

import uuid

import aiohttp
import anyio
import pytest

from jobs._simulator import SimulatorConfig, serve
from jobs._simulator._faults import RATE_LIMIT_BODY
from jobs._simulator._lifecycle import PRIOR_TOKEN, WorkerTokens
from tests.conftest import on_virtual_time
from tests.jobs.simclient import (
    PID,
    Answer,
    assert_container,
    assert_valid_201,
    delete,
    post,
    worker_url,
)

pytestmark = pytest.mark.anyio

OTHER = "00000000-0000-4000-8000-000000000002"


def assert_revoke_404(answer: Answer, message: str, worker_id: str = PID) -> None:
    body = assert_container(answer, 404, method="DELETE", url=worker_url(worker_id))
    assert body["errors"] == [{"message": message}]
    assert body["request"]["source"] == "workers.session.delete"


async def test_mint_revoke_mint_keeps_one_active_token(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        first, _ = assert_valid_201(await post(session, api))
        second, _ = assert_valid_201(await post(session, api))
        assert api.stats.workers[PID] == WorkerTokens(issued=[first, second], active=second)

        answer = await delete(session, api, PID.upper())  # the ID is matched in any case
        assert answer.status == 200
        assert answer.json() == {}
        assert answer.headers["Content-Type"].startswith("application/json")
        assert api.stats.workers[PID].active is None
        assert api.stats.workers[PID].revoked == [second]

        assert_revoke_404(await delete(session, api), "No active token for this worker")
        third, _ = assert_valid_201(await post(session, api))
        record = api.stats.workers[PID]
        assert record == WorkerTokens(issued=[first, second, third], active=third, revoked=[second])
        assert record.replaced == [first]
        assert api.stats.revocations == 1
        assert api.stats.per_worker == {PID: 2}
        assert api.stats.per_profile == {PID: 3}
        assert api.stats.issued == {PID: [first, second, third]}


async def test_an_id_never_minted_here_holds_a_token_from_before(
    session: aiohttp.ClientSession,
) -> None:
    # What a `revoke-tokens --simulate` right after a `worker-tokens --simulate` meets: a
    # fresh in-process simulator that never saw those tokens.
    async with serve() as api:
        assert (await delete(session, api)).status == 200
        assert_revoke_404(await delete(session, api), "No active token for this worker")
        assert api.stats.workers == {PID: WorkerTokens(active=None, revoked=[PRIOR_TOKEN])}
        assert api.stats.created == 0


async def test_without_prior_tokens_a_never_minted_id_has_nothing_to_revoke(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None, tokens_predate=False)) as api:
        assert_revoke_404(await delete(session, api), "No active token for this worker")
        assert_valid_201(await post(session, api))
        assert (await delete(session, api)).status == 200
        assert api.stats.revocations == 1


async def test_unknown_workers_are_404_for_both_methods(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, unknown_profiles={PID})) as api:
        assert_revoke_404(await delete(session, api), "Worker not found")
        assert_container(await post(session, api), 404)
        assert (await delete(session, api, OTHER)).status == 200
        assert api.stats.workers == {OTHER: WorkerTokens(revoked=[PRIOR_TOKEN])}


async def test_a_malformed_worker_id_is_a_400_with_its_path(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        answer = await delete(session, api, "not-a-uuid")
        body = assert_container(answer, 400, method="DELETE", url=worker_url("not-a-uuid"))
        assert body["errors"][0]["path"] == "worker_id"
        assert api.stats.per_worker == {}


@pytest.mark.parametrize("headers", [{"Authorization": ""}, {"Authorization": "Bearer wrong"}])
async def test_delete_checks_the_bearer_token(
    session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    async with serve(SimulatorConfig(rate=None, token="secret")) as api:
        answer = await delete(session, api, headers=headers)
        assert_container(answer, 401, method="DELETE", url=worker_url())
        assert api.stats.workers == {}
        ok = await delete(session, api, headers={"Authorization": "Bearer secret"})
        assert ok.status == 200


async def test_a_revoked_org_token_is_401_for_delete(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, revoke_after=1)) as api:
        assert_valid_201(await post(session, api))
        assert_container(await delete(session, api), 401, method="DELETE", url=worker_url())
        assert api.stats.workers[PID].revoked == []


@on_virtual_time  # the rolling window on the loop's clock
async def test_delete_shares_the_rolling_window(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=2)) as api:
        statuses = [(await post(session, api)).status, (await delete(session, api)).status]
        refused = await delete(session, api)
        assert statuses == [201, 200]
        assert refused.status == 429
        assert refused.json() == RATE_LIMIT_BODY
        assert "x-request-id" not in refused.headers
        assert "X-Version" not in refused.headers
        assert api.stats.window_429 == 1
        assert api.stats.per_worker == {PID: 1}


@on_virtual_time
async def test_latency_is_added_to_delete(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, latency=0.25)) as api:
        started = anyio.current_time()
        assert (await delete(session, api)).status == 200
        assert anyio.current_time() - started == pytest.approx(0.25)


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "500"])
async def test_planned_errors_on_delete_then_the_revocation(
    session: aiohttp.ClientSession, status: str
) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: [status]})) as api:
        body = assert_container(await delete(session, api), int(status), method="DELETE",
                                url=worker_url())  # fmt: skip
        assert ("path" in body["errors"][0]) == (status == "400")
        assert api.stats.workers == {}  # nothing revoked
        assert (await delete(session, api)).status == 200
        assert api.stats.injected == {status: 1}


async def test_the_plan_counts_requests_of_both_methods(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["500", "500", "503_html"]})) as api:
        assert_container(await post(session, api), 500)
        assert_container(await delete(session, api), 500, method="DELETE", url=worker_url())
        answer = await post(session, api)
        assert answer.status == 503
        assert answer.headers["Content-Type"].startswith("text/html")
        assert_valid_201(await post(session, api))


async def test_drop_and_random_faults_apply_to_delete(session: aiohttp.ClientSession) -> None:
    # aiohttp sends an idempotent request (DELETE) once more by itself when the connection
    # drops: one planned drop is invisible to it, two are not.
    async with serve(SimulatorConfig(rate=None, plan={PID: ["drop", "drop"]})) as api:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await delete(session, api)
        assert api.stats.per_worker == {PID: 2}
        assert api.stats.workers == {}
    async with serve(SimulatorConfig(rate=None, p_500=1.0)) as api:
        assert_container(await delete(session, api), 500, method="DELETE", url=worker_url())
        assert api.stats.injected == {"500": 1}


@on_virtual_time
async def test_revoke_then_timeout_leaves_the_token_revoked(
    session: aiohttp.ClientSession,
) -> None:
    # The DELETE is done, its answer never comes: the retry finds no active token.
    config = SimulatorConfig(rate=None, plan={PID: ["mint_then_timeout"]}, stall_seconds=30)
    async with serve(config) as api:
        with pytest.raises(TimeoutError):
            await delete(session, api, timeout=1.0)
        assert_revoke_404(await delete(session, api), "No active token for this worker")
        assert api.stats.revocations == 1


async def test_token_content_faults_on_delete_revoke_then_break_the_200(
    session: aiohttp.ClientSession,
) -> None:
    plan = {PID: ["malformed", "duplicate_keys"]}
    async with serve(SimulatorConfig(rate=None, plan=plan)) as api:
        answer = await delete(session, api)
        assert (answer.status, answer.body) == (200, b"OK")
        assert_revoke_404(await delete(session, api), "No active token for this worker")
        assert api.stats.revocations == 1


async def test_exactly_the_revoked_ids_are_reissued(session: aiohttp.ClientSession) -> None:
    """What a test of mint → revoke → re-mint asserts, against one server's stats."""
    ids = [str(uuid.UUID(int=n)) for n in range(1, 7)]
    async with serve(SimulatorConfig(rate=None)) as api:
        for worker_id in ids:
            assert_valid_201(await post(session, api, worker_id))
        for worker_id in ids[:3]:
            assert (await delete(session, api, worker_id)).status == 200
        for worker_id in ids[:3]:  # what `worker-tokens --resume` should re-issue
            assert_valid_201(await post(session, api, worker_id))
        workers = api.stats.workers
        assert [len(workers[w].issued) for w in ids] == [2, 2, 2, 1, 1, 1]
        assert {w for w in ids if workers[w].revoked} == set(ids[:3])
        assert all(workers[w].active == workers[w].issued[-1] for w in ids)
