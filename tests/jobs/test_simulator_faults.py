"""The faults added for the client's hard cases, over real loopback HTTP: tokens that are hard
to store (a lone surrogate, CR LF), an ambiguous 201 (duplicate keys), redirects, and an
API that rejects every request."""

from __future__ import annotations

import json

import aiohttp
import pytest

from jobs._simulator import SimulatorConfig, serve
from jobs._simulator._config import REJECT_ALL_MESSAGE
from tests.jobs.simclient import (
    ORG_TOKEN,
    PID,
    assert_container,
    assert_valid_201,
    delete,
    post,
    worker_url,
)

pytestmark = pytest.mark.anyio


async def test_a_token_with_a_lone_surrogate(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["token_surrogate"]})) as api:
        answer = await post(session, api)
        assert b'"wt_\\ud800' in answer.body  # JSON-escaped on the wire, as a server sends it
        token, _ = assert_valid_201(answer)
        assert token.startswith("wt_\ud800")
        with pytest.raises(UnicodeEncodeError):
            token.encode()  # what a UTF-8 file cannot hold
        assert api.stats.workers[PID].active == token  # it was minted: it is the live one
        assert api.stats.injected == {"token_surrogate": 1}


async def test_a_token_with_cr_lf(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["token_crlf"]})) as api:
        answer = await post(session, api)
        assert b"\r" not in answer.body  # escaped in the JSON
        token, _ = assert_valid_201(answer)
        assert "\r\n" in token
        assert api.stats.workers[PID].active == token


async def test_duplicate_token_keys_where_the_last_is_a_decoy(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["duplicate_keys"]})) as api:
        answer = await post(session, api)
        assert answer.status == 201
        pairs = json.loads(answer.body, object_pairs_hook=lambda kv: kv)[0][1]
        names = [name for name, _ in pairs]
        assert names == ["token", "expires_at", "token"]
        first, last = pairs[0][1], pairs[2][1]
        assert api.stats.workers[PID].issued == [first]
        assert last.startswith("wt_DUPLICATE")
        assert answer.json()["data"]["token"] == last  # json.loads keeps the last: wrong
        assert api.stats.created == 1


@pytest.mark.parametrize("status", [301, 302, 307])
async def test_a_redirect_names_its_location_and_mints_nothing(
    session: aiohttp.ClientSession, status: int
) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: [str(status)]})) as api:
        answer = await post(session, api)
        assert answer.status == status
        origin = api.base_url.removesuffix("/rest/v2")
        assert answer.headers["Location"] == origin + "/rest/v2/moved/workers/session"
        assert api.stats.workers == {}
        assert api.stats.followed_redirects == 0


async def test_a_client_that_follows_a_redirect_is_caught(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["307", "301"]})) as api:
        body = json.dumps({"data": {"profile_id": PID}})
        headers = {"Authorization": f"Bearer {ORG_TOKEN}"}
        url = api.base_url + "/workers/session"
        async with session.post(url, data=body, headers=headers) as resp:
            assert resp.status == 404
            assert resp.url.path == "/rest/v2/moved/workers/session"
            assert resp.method == "POST"  # 307 keeps the method
        async with session.delete(url.replace("session", f"{PID}/session"), headers=headers) as r:
            assert r.status == 404
        assert api.stats.followed_redirects == 2
        assert api.stats.workers == {}


async def test_reject_all_answers_every_request_with_the_same_400(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None, reject_all=REJECT_ALL_MESSAGE)) as api:
        for profile_id in (PID, "00000000-0000-4000-8000-000000000001"):
            body = assert_container(await post(session, api, profile_id), 400)
            assert body["errors"] == [{"message": REJECT_ALL_MESSAGE}]
        revoke = await delete(session, api)
        body = assert_container(revoke, 400, method="DELETE", url=worker_url())
        assert body["errors"] == [{"message": REJECT_ALL_MESSAGE}]
        # A bad token is still a 401: the org token is checked first.
        assert_container(await post(session, api, headers={"Authorization": ""}), 401)
        assert (api.stats.created, api.stats.revocations, len(api.stats.per_profile)) == (0, 0, 0)
        api.config.reject_all = None  # the switch is read by every request
        assert_valid_201(await post(session, api))


async def test_the_ambiguous_faults_have_probability_knobs(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, p_broken_chunked_201=1.0)) as api:
        with pytest.raises(aiohttp.ClientPayloadError):
            await post(session, api)
        assert api.stats.created == 1
        assert api.stats.injected == {"broken_chunked_201": 1}
    async with serve(SimulatorConfig(rate=None, p_mint_then_reset=1.0)) as api:
        with pytest.raises(aiohttp.ClientPayloadError):
            await post(session, api)
        assert api.stats.injected == {"mint_then_reset": 1}


async def test_a_plan_changed_at_runtime_to_an_unknown_fault_is_a_500(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        api.config.plan = {PID: ["boom"]}  # not checked: the config is mutable
        answer = await post(session, api)
        assert answer.status == 500
        assert_valid_201(await post(session, api))
