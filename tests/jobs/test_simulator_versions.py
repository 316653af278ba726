"""API versions over real loopback HTTP: every answer of the API names the version called
and its state; an unpublished `X-Version` is a 400; a deprecated version's answers carry
`Deprecation` and `Sunset`; the rate limiter and the proxy add no version headers."""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest

from jobs._simulator import SimulatorConfig, serve
from jobs._simulator._versions import PublishedVersion
from tests.conftest import on_virtual_time
from tests.jobs.simclient import PID, assert_container, assert_valid_201, delete, post, worker_url

pytestmark = pytest.mark.anyio

STABLE = {"X-Version": "2026-01-01", "X-Version-Status": "stable"}
VERSION_HEADERS = ("X-Version", "X-Version-Status", "Deprecation", "Sunset", "Link")


def version_headers(headers: object) -> dict[str, str]:
    assert hasattr(headers, "get")
    return {name: headers.get(name) for name in VERSION_HEADERS if headers.get(name) is not None}


async def test_every_answer_of_the_api_names_the_stable_version(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None, unknown_profiles={PID})) as api:
        other = "00000000-0000-4000-8000-000000000009"
        created = await post(session, api, other, headers={"X-Version": "2026-01-01"})
        assert_valid_201(created)
        assert version_headers(created.headers) == STABLE
        assert version_headers((await post(session, api)).headers) == STABLE  # 404, no header
        assert version_headers((await delete(session, api, other)).headers) == STABLE
        unauthorized = await post(session, api, headers={"Authorization": ""})
        assert version_headers(unauthorized.headers) == STABLE
        assert api.stats.versions_seen == {"2026-01-01": 1, None: 3}


@pytest.mark.parametrize("value", ["2025-01-01", "2026-13-01", "latest"])
async def test_an_unpublished_version_is_a_400_that_suggests_nothing(
    session: aiohttp.ClientSession, value: str
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        answer = await post(session, api, headers={"X-Version": value})
        body = assert_container(answer, 400)
        assert body["errors"] == [
            {
                "message": f"X-Version '{value}' does not match any published version of this endpoint"
            }
        ]
        assert version_headers(answer.headers) == {}
        assert api.stats.created == 0
        assert api.stats.per_profile == {}  # refused before the body
        revoke = await delete(session, api, headers={"X-Version": value})
        assert_container(revoke, 400, method="DELETE", url=worker_url())
        assert api.stats.workers == {}
        assert api.stats.versions_seen == {value: 2}


async def test_a_deprecated_version_says_so_on_every_answer(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(rate=None, deprecated_since=dt.date(2027, 1, 1))
    async with serve(config) as api:
        answers = [
            await post(session, api, headers={"X-Version": "2026-01-01"}),
            await delete(session, api),
            await delete(session, api),  # the 404: no active token
        ]
        assert [a.status for a in answers] == [201, 200, 404]
        for answer in answers:
            assert version_headers(answer.headers) == {
                "X-Version": "2026-01-01",
                "X-Version-Status": "deprecated",
                "Deprecation": "@1798761600",
                "Sunset": "Sat, 01 Jan 2028 00:00:00 GMT",
                "Link": '<https://developer.deel.com/api/api-versioning>; rel="deprecation"',
            }
        config.sunset = dt.date(2027, 3, 31)  # read afresh by every request
        later = await post(session, api)
        assert later.headers["Sunset"] == "Wed, 31 Mar 2027 00:00:00 GMT"
        config.deprecated_since = None
        assert version_headers((await post(session, api)).headers) == {
            **STABLE,
            "Sunset": "Wed, 31 Mar 2027 00:00:00 GMT",
        }


async def test_published_versions_with_their_states(session: aiohttp.ClientSession) -> None:
    versions = {
        "2025-01-01": PublishedVersion("deprecated", dt.date(2026, 1, 1)),
        "2026-01-01": PublishedVersion(),
        "2026-06-01": PublishedVersion("beta"),
    }
    async with serve(SimulatorConfig(rate=None, versions=versions)) as api:
        old = await post(session, api, headers={"X-Version": "2025-01-01"})
        assert old.status == 201
        assert old.headers["X-Version-Status"] == "deprecated"
        assert old.headers["Sunset"] == "Fri, 01 Jan 2027 00:00:00 GMT"
        beta = await post(session, api, headers={"X-Version": "2026-06-01"})
        body = assert_container(beta, 400)
        assert "X-Beta: true" in body["errors"][0]["message"]
        beta = await post(session, api, headers={"X-Version": "2026-06-01", "X-Beta": "true"})
        assert beta.status == 201
        assert version_headers(beta.headers) == {
            "X-Version": "2026-06-01",
            "X-Version-Status": "beta",
        }


@on_virtual_time  # the rolling window on the loop's clock
async def test_the_rate_limiter_and_the_proxy_add_no_version_headers(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(rate=1, plan={PID: ["503_html"]}, deprecated_since=dt.date(2027, 1, 1))
    async with serve(config) as api:
        proxy = await post(session, api)
        refused = await post(session, api)
        assert (proxy.status, refused.status) == (503, 429)
        assert version_headers(proxy.headers) == {}
        assert version_headers(refused.headers) == {}
