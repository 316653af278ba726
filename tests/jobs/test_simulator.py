"""The simulated Deel API, exercised over real loopback HTTP with a real aiohttp client."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import anyio
import pytest
from click.testing import CliRunner

from jobs._simulator import FAULTS, SimulatedApi, SimulatorConfig, is_loopback, serve
from jobs._simulator._cli import simulate_api
from jobs._simulator._faults import MALFORMED_VARIANTS, RATE_LIMIT_BODY
from tests.conftest import on_virtual_time
from tests.jobs.simclient import ORG_TOKEN, PID, Answer, assert_container, assert_valid_201

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


async def post(  # noqa: PLR0913 - keyword-only knobs of one request, each defaulted
    client: aiohttp.ClientSession,
    api: SimulatedApi,
    profile_id: str = PID,
    *,
    token: str | None = ORG_TOKEN,
    body: bytes | None = None,
    timeout: float = 5.0,
) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if body is not None else json.dumps({"data": {"profile_id": profile_id}}).encode()
    async with client.post(
        api.base_url + "/workers/session",
        data=data,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


async def test_created_token_matches_schema_and_expires_in_24h(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/rest/v2", api.base_url)
        answer = await post(session, api, PID.upper())
        token, expires_at = assert_valid_201(answer)
        assert set(answer.json()) == {"data"}
        assert set(answer.json()["data"]) == {"token", "expires_at"}
        assert token.startswith("wt_")
        expected = dt.datetime.now(dt.UTC) + dt.timedelta(hours=24)
        assert abs((expires_at - expected).total_seconds()) < 60
        # Upper case is accepted; stats use the lower-case canonical ID.
        assert api.stats.issued == {PID: [token]}
        assert api.stats.per_profile == {PID: 1}
        assert api.stats.created == 1
        assert "Retry-After" not in answer.headers
        second, _ = assert_valid_201(await post(session, api))
        assert second != token
        assert api.stats.issued[PID] == [token, second]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"profile_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}', "data"),
        (b'{"data": {}}', "data.profile_id"),
        (b'{"data": {"profile_id": 12}}', "data.profile_id"),
        (b'{"data": {"profile_id": "not-a-uuid"}}', "data.profile_id"),
        (b'{"data": {"profile_id": "3fa85f64571745 62b3fc2c963f66afa6"}}', "data.profile_id"),
    ],
)
async def test_bad_body_is_400_container_with_path(
    session: aiohttp.ClientSession, body: bytes, path: str
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        answer = await post(session, api, body=body)
        container = assert_container(answer, 400)
        assert container["errors"][0]["path"] == path
        assert api.stats.per_profile == {}
        assert api.stats.created == 0


@pytest.mark.parametrize("token", [None, "", "wrong", "Basic"])
async def test_missing_or_wrong_token_is_401(
    session: aiohttp.ClientSession, token: str | None
) -> None:
    async with serve(SimulatorConfig(rate=None, token="secret")) as api:
        if token == "Basic":
            async with session.post(
                api.base_url + "/workers/session",
                json={"data": {"profile_id": PID}},
                headers={"Authorization": "Basic secret"},
            ) as resp:
                answer = Answer(resp.status, resp.headers, await resp.read())
        else:
            answer = await post(session, api, token=token)
        body = assert_container(answer, 401)
        assert "path" not in body["errors"][0]
        assert_valid_201(await post(session, api, token="secret"))


async def test_any_token_is_accepted_when_none_is_configured(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        assert_valid_201(await post(session, api, token="anything"))
        assert_container(await post(session, api, token=" "), 401)


async def test_auth_is_checked_before_the_body(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        assert_container(await post(session, api, token=None, body=b"junk"), 401)


async def test_revoke_after_n_tokens_then_401(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, revoke_after=2)) as api:
        assert not api.revoked
        assert_valid_201(await post(session, api))
        assert_valid_201(await post(session, api))
        assert api.revoked
        assert_container(await post(session, api), 401)
        assert api.stats.created == 2


async def test_revoke_after_is_exact_under_concurrency(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, revoke_after=3)) as api:
        statuses: list[int] = []

        async def one(i: int) -> None:
            statuses.append((await post(session, api, str(uuid.UUID(int=i)))).status)

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(one, i)
        assert sorted(statuses) == [201] * 3 + [401] * 7
        assert api.stats.created == 3


async def test_revoke_now(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None)) as api:
        assert_valid_201(await post(session, api))
        api.revoke()
        assert_container(await post(session, api), 401)


async def test_unknown_profile_is_404(session: aiohttp.ClientSession) -> None:
    other = str(uuid.uuid4())
    async with serve(SimulatorConfig(rate=None, unknown_profiles={PID})) as api:
        assert_container(await post(session, api), 404)
        assert_valid_201(await post(session, api, other))
        assert api.stats.per_profile == {PID: 1, other: 1}


@on_virtual_time  # the rolling window on the loop's clock: a busy machine cannot empty it
async def test_window_admits_rate_then_429_with_provider_body(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=5)) as api:
        answers: list[Answer] = []

        async def one(i: int) -> None:
            answers.append(await post(session, api, str(uuid.UUID(int=i))))

        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(one, i)

        assert sorted(a.status for a in answers) == [201] * 5 + [429] * 7
        for answer in answers:
            if answer.status == 429:
                assert answer.json() == RATE_LIMIT_BODY
                assert answer.headers["Content-Type"].startswith("application/json")
                assert "Retry-After" not in answer.headers
                assert not [h for h in answer.headers if "ratelimit" in h.lower()]
                assert "x-request-id" not in answer.headers
        stats = api.stats
        assert (stats.created, stats.window_429, stats.requests) == (5, 7, 12)
        assert stats.max_in_window == 5
        assert len(stats.arrivals) == 12
        # Refused requests never reach the body: they are not counted per profile.
        assert sum(stats.per_profile.values()) == 5


async def test_window_is_rolling_over_the_loop_clock(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    async with serve(SimulatorConfig(rate=2)) as api:
        monkeypatch.setattr(api, "_now", lambda: clock[0])

        async def status_at(t: float) -> int:
            clock[0] = t
            return (await post(session, api)).status

        assert await status_at(100.0) == 201
        assert await status_at(100.5) == 201
        assert await status_at(100.99) == 429  # window (99.99, 100.99] holds two
        assert await status_at(101.0) == 201  # 100.0 left the window (100.0, 101.0]
        assert await status_at(101.2) == 429  # 100.5 and 101.0 are still in it
        assert await status_at(101.5) == 201
        assert api.stats.window_429 == 2
        assert api.stats.max_in_window == 2
        assert api.stats.arrivals == [100.0, 100.5, 100.99, 101.0, 101.2, 101.5]


@on_virtual_time  # the rolling window on the loop's clock: a busy machine cannot empty it
async def test_rate_can_change_at_runtime(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=1)) as api:
        assert (await post(session, api)).status == 201
        assert (await post(session, api)).status == 429
        api.config.rate = None
        assert (await post(session, api)).status == 201


@on_virtual_time  # the rolling window on the loop's clock: a busy machine cannot empty it
async def test_retry_after_header_when_configured(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(rate=1, retry_after=1.5, plan={PID: ["503_html"]})
    async with serve(config) as api:
        answer = await post(session, api)
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "1.5"
        answer = await post(session, api)
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "1.5"


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "500"])
async def test_plan_error_container_then_success(
    session: aiohttp.ClientSession, status: str
) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: [status]})) as api:
        body = assert_container(await post(session, api), int(status))
        assert ("path" in body["errors"][0]) == (status == "400")
        assert_valid_201(await post(session, api))
        assert api.stats.injected == {status: 1}


async def test_plan_faults_apply_in_order_per_profile(session: aiohttp.ClientSession) -> None:
    other = str(uuid.uuid4())
    config = SimulatorConfig(rate=None, plan={PID: ["500", "503_html", "429"]})
    async with serve(config) as api:
        assert_valid_201(await post(session, api, other))
        assert_container(await post(session, api), 500)

        answer = await post(session, api)
        assert answer.status == 503
        assert answer.headers["Content-Type"].startswith("text/html")
        assert b"nginx" in answer.body
        assert "Retry-After" not in answer.headers

        answer = await post(session, api)
        assert answer.status == 429
        assert answer.json() == RATE_LIMIT_BODY
        assert "Retry-After" not in answer.headers

        assert_valid_201(await post(session, api))
        stats = api.stats
        assert stats.injected == {"500": 1, "503_html": 1, "429": 1}
        assert stats.window_429 == 0
        assert stats.per_profile == {PID: 4, other: 1}
        assert stats.created == 2


async def test_drop_closes_the_connection_without_a_response(
    session: aiohttp.ClientSession,
) -> None:
    async with serve(SimulatorConfig(rate=None, plan={PID: ["drop"]})) as api:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(session, api)
        assert_valid_201(await post(session, api))
        assert api.stats.injected == {"drop": 1}


@on_virtual_time
async def test_stall_makes_the_client_time_out(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(rate=None, plan={PID: ["stall"]}, stall_seconds=30)
    async with serve(config) as api:
        started = anyio.current_time()
        with pytest.raises(TimeoutError):
            await post(session, api, timeout=0.2)
        assert anyio.current_time() - started == pytest.approx(0.2)
        assert_valid_201(await post(session, api))


async def test_short_stall_ends_in_a_proxy_504(session: aiohttp.ClientSession) -> None:
    config = SimulatorConfig(rate=None, plan={PID: ["stall"]}, stall_seconds=0.05)
    async with serve(config) as api:
        answer = await post(session, api)
        assert answer.status == 504
        assert answer.headers["Content-Type"].startswith("text/html")


@on_virtual_time
async def test_shutdown_does_not_wait_for_stalled_requests(
    session: aiohttp.ClientSession,
) -> None:
    config = SimulatorConfig(rate=None, plan={PID: ["stall"]})
    errors: list[BaseException] = []

    async def stalled(api: SimulatedApi) -> None:
        try:
            await post(session, api, timeout=10)
        except aiohttp.ClientError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        async with serve(config) as api:
            tg.start_soon(stalled, api)
            for _ in range(200):
                if api.stats.injected:
                    break
                await anyio.sleep(0.01)
            assert api.stats.injected == {"stall": 1}
            started = anyio.current_time()
        assert anyio.current_time() - started < 1.5  # not the stall's hour
    assert len(errors) == 1
    assert isinstance(errors[0], aiohttp.ClientConnectionError)


def _violates_schema(answer: Answer) -> bool:
    try:
        data = answer.json()["data"]
        dt.datetime.fromisoformat(data["expires_at"])
    except (ValueError, KeyError, TypeError):
        return True
    return not isinstance(data["token"], str)


async def test_malformed_201_variants_rotate(session: aiohttp.ClientSession) -> None:
    n = len(MALFORMED_VARIANTS)
    async with serve(SimulatorConfig(rate=None, plan={PID: ["malformed"] * n})) as api:
        answers = [await post(session, api) for _ in range(n)]
        assert all(a.status == 201 for a in answers)
        assert all(_violates_schema(a) for a in answers)
        missing_expiry, not_a_date, token_not_str, not_json, data_missing = answers
        assert set(missing_expiry.json()["data"]) == {"token"}
        assert not_a_date.json()["data"]["expires_at"] == "soon"
        assert not isinstance(token_not_str.json()["data"]["token"], str)
        assert not_json.body == b"OK"
        assert not_json.headers["Content-Type"].startswith("application/json")
        assert "data" not in data_missing.json()
        for leaky in (missing_expiry, not_a_date, data_missing):
            assert b'"wt_MALFORMED' in leaky.body
        assert api.stats.created == 0
        assert api.stats.issued == {}
        assert api.stats.injected == {"malformed": n}
        assert_valid_201(await post(session, api))


async def test_random_faults_follow_the_seed(session: aiohttp.ClientSession) -> None:
    def config() -> SimulatorConfig:
        return SimulatorConfig(rate=None, p_500=0.3, p_429=0.2, p_malformed=0.2, seed=7)

    runs: list[list[int]] = []
    for _ in range(2):
        async with serve(config()) as api:
            runs.append([(await post(session, api)).status for _ in range(30)])
            assert api.stats.created == runs[-1].count(201) - api.stats.injected["malformed"]
            assert api.stats.injected["500"] == runs[-1].count(500)
            assert api.stats.window_429 == 0
    assert runs[0] == runs[1]
    assert {201, 429, 500} <= set(runs[0])


async def test_certain_random_fault(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, p_drop=1.0)) as api:
        for _ in range(3):
            with pytest.raises(aiohttp.ClientConnectionError):
                await post(session, api)
        assert api.stats.injected == {"drop": 3}


async def test_unknown_fault_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        SimulatorConfig(plan={PID: ["boom"]})
    assert set(FAULTS) == {"500", "503_html", "429", "drop", "stall", "malformed"} | {
        "401",
        "403",
        "404",
        "400",
    } | {  # added for the lifecycle, idempotency and fault issues (25, 26, 29)
        "301",
        "302",
        "307",
        "mint_then_timeout",
        "mint_then_reset",
        "broken_chunked_201",
        "token_surrogate",
        "token_crlf",
        "duplicate_keys",
    }


@on_virtual_time
async def test_latency_is_added(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None, latency=0.1)) as api:
        started = anyio.current_time()
        assert_valid_201(await post(session, api))
        assert anyio.current_time() - started == pytest.approx(0.1)


async def test_only_loopback_hosts_are_served() -> None:
    for host in ["0.0.0.0", "192.0.2.1", "example.com", ""]:  # noqa: S104
        with pytest.raises(ValueError, match="loopback"):
            async with serve(host=host):
                pass
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.2")


async def test_localhost_and_ipv6(session: aiohttp.ClientSession) -> None:
    async with serve(SimulatorConfig(rate=None), host="localhost") as api:
        assert api.base_url.startswith("http://127.0.0.1:")
        assert_valid_201(await post(session, api))
    if not socket.has_ipv6:
        return
    try:
        async with serve(SimulatorConfig(rate=None), host="::1") as api:
            assert api.base_url.startswith("http://[::1]:")
            assert_valid_201(await post(session, api))
    except OSError:
        pytest.skip("no IPv6 loopback here")


# ---- the simulate-api command ----


def test_cli_help_shows_an_example() -> None:
    result = CliRunner().invoke(simulate_api, ["--help"])
    assert result.exit_code == 0
    assert "--base-url http://127.0.0.1:8080/rest/v2" in result.output
    assert "DEEL_API_TOKEN=anything" in result.output


def test_cli_refuses_a_non_loopback_host() -> None:
    result = CliRunner().invoke(simulate_api, ["--host", "0.0.0.0"])  # noqa: S104
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_cli_refuses_a_bad_unknown_profile() -> None:
    result = CliRunner().invoke(simulate_api, ["--unknown", "nope"])
    assert result.exit_code == 2
    assert "UUID" in result.output


def test_cli_busy_port_is_a_one_line_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(simulate_api, ["--port", str(port)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: port already in use"
    ]


@pytest.mark.slow
async def test_cli_serves_until_sigterm(session: aiohttp.ClientSession) -> None:
    code = "from jobs._simulator._cli import simulate_api; simulate_api()"
    args = [sys.executable, "-c", code, "--port", "0", "--rate", "0", "--unknown", PID]
    async with await anyio.open_process(
        args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    ) as process:
        assert process.stderr is not None
        banner = b""
        with anyio.fail_after(30):  # only a hang guard: a busy machine may be slow to start
            while b"\n" not in banner:
                banner += await process.stderr.receive()
        line = banner.decode().splitlines()[0]
        match = re.fullmatch(
            r"simulated Deel API on (http://127\.0\.0\.1:\d+/rest/v2) \(no rate limit\); "
            r"Ctrl-C to stop",
            line,
        )
        assert match, line
        api = SimulatedApi()
        api.base_url = match.group(1)
        assert_valid_201(await post(session, api, str(uuid.uuid4())))
        assert_container(await post(session, api), 404)

        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):  # only a hang guard: a busy machine may be slow to exit
            assert await process.wait() == 0
        rest = b""
        async for chunk in process.stderr:
            rest += chunk
        assert b"2 requests, 1 tokens" in rest
