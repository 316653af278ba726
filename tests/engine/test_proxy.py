"""Behind a corporate proxy: a real forward proxy (proxy.py) on loopback, in front of the
simulated API over HTTPS (a trustme CA), driven through the real command line.

The API is served as ``https://api.deel.test:PORT``: only the proxy resolves ``.test``
names (tests/proxy_plugins.py), as only a corporate proxy reaches the outside, so a run
that ignored the proxy could not even find the API. TLS is verified end to end against
the API's certificate: the proxy only sees a CONNECT and encrypted bytes.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp.abc import AbstractResolver, ResolveResult

from jobs import RunAborted, create_worker_tokens_sync, open_worker_tokens
from jobs._simulator import SimulatedApi
from tests.conftest import StartSim
from tests.helpers import ENV, CliResult, new_ids, read_jsonl, run_cli, write_csv
from tests.proxy_server import ForwardProxy, forward_proxy

pytestmark = pytest.mark.slow

HOST = "api.deel.test"
USER, PASSWORD = "jane", "pr0xy-Pa55word"


@dataclass
class TlsApi:
    api: SimulatedApi
    base_url: str
    ca_file: Path

    @property
    def port(self) -> int:
        return int(self.base_url.split(":")[2].split("/")[0])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_api(sim: StartSim, ca: trustme.CA, tmp_path: Path) -> TlsApi:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "127.0.0.1").configure_cert(context)
    api = sim(rate=None, ssl_context=context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TlsApi(api, api.base_url.replace("127.0.0.1", HOST), ca_file)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ForwardProxy]:
    with forward_proxy(tmp_path / "proxy") as started:
        yield started


@pytest.fixture
def auth_proxy(tmp_path: Path) -> Iterator[ForwardProxy]:
    with forward_proxy(tmp_path / "auth-proxy", basic_auth=f"{USER}:{PASSWORD}") as started:
        yield started


def _run(
    tmp_path: Path, api: TlsApi, n: int, *extra: str, env: dict[str, str]
) -> tuple[Path, CliResult]:
    out = tmp_path / "out.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(n))), "-o", str(out),
        "--base-url", api.base_url, "--log-format", "json", "--rate", "50", *extra,
        env={**ENV, "SSL_CERT_FILE": str(api.ca_file), **env},
    )  # fmt: skip
    return out, res


def test_https_proxy_from_the_environment_tunnels_every_request(
    tmp_path: Path, tls_api: TlsApi, proxy: ForwardProxy
) -> None:
    out = tmp_path / "out.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(12))), "-o", str(out),
        "--base-url", tls_api.base_url, "--rate", "50", "--log-format", "json",
        env={**ENV, "SSL_CERT_FILE": str(tls_api.ca_file), "HTTPS_PROXY": proxy.url},
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert [r["status"] for r in read_jsonl(out)] == ["ok"] * 12
    started = res.event("run_started")
    assert (started["proxy"], started["proxy_from"]) == (proxy.url, "HTTPS_PROXY")
    assert tls_api.api.stats.requests == 12
    tunnels = proxy.wait_for_tunnels(1)
    assert tunnels
    assert set(tunnels) == {f"{HOST}:{tls_api.port}"}


def test_lower_case_https_proxy_and_credentials_that_never_show(
    tmp_path: Path, tls_api: TlsApi, auth_proxy: ForwardProxy
) -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{auth_proxy.port}"
    out = tmp_path / "out.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(5))), "-o", str(out),
        "--base-url", tls_api.base_url, "--log-level", "debug", "--log-format", "json",
        "--errors", str(tmp_path / "errors.csv"),
        env={**ENV, "SSL_CERT_FILE": str(tls_api.ca_file), "https_proxy": url},
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert res.event("run_started")["proxy"] == auth_proxy.url  # no credentials
    assert "response" in res.names()  # debug events were on
    assert auth_proxy.wait_for_tunnels(1)
    everything = res.stderr + res.stdout + out.read_text()
    assert PASSWORD not in everything
    assert "cHIweHktUGE1NXdvcmQ" not in everything  # nor the base64 of the header


def test_wrong_proxy_credentials_stop_the_run_with_a_407_message(
    tmp_path: Path, tls_api: TlsApi, auth_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://{USER}:wrong-password@127.0.0.1:{auth_proxy.port}"
    out = tmp_path / "out.jsonl"
    args = [
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(30))), "-o", str(out),
        "--base-url", tls_api.base_url, "--proxy", url, "--concurrency", "2",
        "--log-level", "debug", "--log-format", "json",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["deel-batch", *args])  # for the resume command
    res = run_cli(*args, env={**ENV, "SSL_CERT_FILE": str(tls_api.ca_file)})
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert reason.startswith(f"the proxy refused the tunnel to {HOST}:{tls_api.port} (407 ")
    assert "the user name or password in --proxy is wrong" in reason
    assert "wrong-password" not in res.stderr
    assert tls_api.api.stats.requests == 0
    finished = res.event("run_finished")
    assert finished["not_attempted"] >= 28
    assert f"--proxy 'http://***@127.0.0.1:{auth_proxy.port}' " in finished["resume"]


def test_a_proxy_asking_for_credentials_says_where_they_go(
    tmp_path: Path, tls_api: TlsApi, auth_proxy: ForwardProxy
) -> None:
    _, res = _run(tmp_path, tls_api, 10, env={"HTTPS_PROXY": auth_proxy.url})
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert "(407 " in reason
    assert "it needs credentials: http://USER:PASSWORD@HOST:PORT in HTTPS_PROXY" in reason


def test_a_proxy_that_forbids_the_destination_is_fatal(tmp_path: Path, tls_api: TlsApi) -> None:
    with forward_proxy(
        tmp_path / "refusing", plugins=("tests.proxy_plugins.RefuseTunnels",)
    ) as refusing:
        _, res = _run(tmp_path, tls_api, 20, env={"HTTPS_PROXY": refusing.url})
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert "(403 Forbidden; proxy " in reason
    assert "its policy forbids this destination" in reason
    assert tls_api.api.stats.requests == 0


def test_a_proxy_that_is_down_is_named_and_fatal(tmp_path: Path, tls_api: TlsApi) -> None:
    with forward_proxy(tmp_path / "gone") as gone:
        dead = gone.url  # a port where a proxy was and nothing listens now
    _, res = _run(tmp_path, tls_api, 20, env={"HTTPS_PROXY": dead})
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert reason.startswith(f"cannot connect to the proxy {dead} (Connection refused; ")
    assert "set by HTTPS_PROXY" in reason
    assert res.event("run_finished")["not_attempted"] >= 12


def test_the_api_unreachable_behind_the_proxy_is_a_retried_network_error(
    tmp_path: Path, tls_api: TlsApi, proxy: ForwardProxy
) -> None:
    gone = TlsApi(tls_api.api, f"https://{HOST}:1/rest/v2", tls_api.ca_file)
    out, res = _run(
        tmp_path, gone, 2, "--max-attempts", "2", "--backoff-base", "0.01",
        env={"HTTPS_PROXY": proxy.url},
    )  # fmt: skip
    assert res.exit_code == 1
    errors = [r["error"] for r in read_jsonl(out)]
    assert [e["kind"] for e in errors] == ["network", "network"]
    assert errors[0]["message"] == (
        f"the proxy {proxy.url} could not reach the API at {HOST}:1 (502 Bad Gateway)"
    )
    assert [r["attempts"] for r in read_jsonl(out)] == [2, 2]


def test_tls_is_verified_end_to_end_through_the_tunnel(
    tmp_path: Path, tls_api: TlsApi, proxy: ForwardProxy
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    untrusted = TlsApi(tls_api.api, tls_api.base_url, other)
    _, res = _run(tmp_path, untrusted, 5, env={"HTTPS_PROXY": proxy.url})
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert reason.startswith(f"TLS certificate of {HOST} is not trusted")
    assert f"if the proxy {proxy.url} inspects TLS" in reason
    assert tls_api.api.stats.requests == 0


def test_an_https_proxy_is_verified_too(tmp_path: Path, tls_api: TlsApi, ca: trustme.CA) -> None:
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "proxy.pem", tmp_path / "proxy.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    with forward_proxy(tmp_path / "tls-proxy", tls=(cert, key)) as tls_proxy:
        assert tls_proxy.url.startswith("https://127.0.0.1:")
        out, res = _run(tmp_path, tls_api, 4, env={"HTTPS_PROXY": tls_proxy.url})
        assert res.exit_code == 0, res.stderr
        assert [r["status"] for r in read_jsonl(out)] == ["ok"] * 4
        assert set(tls_proxy.wait_for_tunnels(1)) == {f"{HOST}:{tls_api.port}"}
        # the proxy's own certificate is checked against the same trust store
        other = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        untrusted = TlsApi(tls_api.api, tls_api.base_url, other)
        (tmp_path / "again").mkdir()
        _, res = _run(tmp_path / "again", untrusted, 4, env={"HTTPS_PROXY": tls_proxy.url})
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert reason.startswith(f"TLS certificate of the proxy {tls_proxy.url} is not trusted")
    assert reason.endswith("Fix the trust store (SSL_CERT_FILE) or HTTPS_PROXY")


def test_loopback_and_simulate_go_direct_even_when_a_proxy_is_asked_for(
    tmp_path: Path, proxy: ForwardProxy
) -> None:
    dead = {"HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1"}
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(3))), "--simulate",
        "-o", str(tmp_path / "a.jsonl"), "--log-format", "json", env={**ENV, **dead},
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    started = res.event("run_started")
    assert (started["proxy"], started["proxy_from"]) == ("direct", "loopback host")
    # asked for, still direct: plain http would hand the org token to the proxy in clear
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(3))), "--simulate",
        "-o", str(tmp_path / "b.jsonl"), "--log-format", "json", "--proxy", proxy.url, env=ENV,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    started = res.event("run_started")
    assert (started["proxy"], started["proxy_from"]) == ("direct", "loopback host")
    assert " - POST " not in proxy.log()


def test_no_proxy_option_goes_direct(tmp_path: Path, sim: StartSim) -> None:
    api = sim(rate=None)
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(2))), "--base-url",
        api.base_url, "--log-format", "json", "--no-proxy", "-o", str(tmp_path / "o.jsonl"),
        env={**ENV, "HTTPS_PROXY": "http://127.0.0.1:1"},
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    started = res.event("run_started")
    assert (started["proxy"], started["proxy_from"]) == ("direct", "--no-proxy")


class _TestNames(AbstractResolver):
    """Resolves ``.test`` names to 127.0.0.1 for a direct connection (no DNS query)."""

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        assert host.endswith(".test"), host
        return [
            {"hostname": host, "host": "127.0.0.1", "port": port, "family": 2, "proto": 0,
             "flags": 0}
        ]  # fmt: skip

    async def close(self) -> None:
        return None


@pytest.mark.anyio
async def test_the_library_honours_no_proxy_and_its_proxy_keyword(
    tls_api: TlsApi, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ssl.create_default_context(cafile=str(tls_api.ca_file))

    async def statuses(proxy_setting: str | None = None) -> list[bool]:
        connector = aiohttp.TCPConnector(ssl=client, resolver=_TestNames())
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            open_worker_tokens(
                new_ids(3),
                token="t0ken",
                base_url=tls_api.base_url,
                session=session,
                proxy=proxy_setting,
            ) as results,
        ):
            return [r.ok async for r in results]

    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,.deel.test")
    assert await statuses() == [True] * 3  # direct: NO_PROXY names the API's domain
    assert proxy.tunnels() == []
    monkeypatch.delenv("NO_PROXY")
    assert await statuses() == [True] * 3  # through the proxy
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    assert await statuses(proxy.url) == [True] * 3  # the keyword wins
    assert await statuses("") == [True] * 3  # '' is direct
    assert len(proxy.wait_for_tunnels(2)) >= 2
    assert tls_api.api.stats.requests == 12


def test_credentials_never_show_in_help_or_usage_errors(tmp_path: Path) -> None:
    env = {"HTTPS_PROXY": f"http://{USER}:{PASSWORD}@127.0.0.1:3128"}
    res = run_cli("worker-tokens", "--help", env=env)
    assert res.exit_code == 0
    assert "--proxy URL" in res.stdout
    assert PASSWORD not in res.stdout + res.stderr
    res = run_cli(
        "worker-tokens", "x.csv", "--proxy", f"socks5://{USER}:{PASSWORD}@127.0.0.1:1080", env=env
    )
    assert res.exit_code == 2
    assert "only http:// and https:// proxies are supported" in res.stderr
    assert PASSWORD not in res.stdout + res.stderr
    res = run_cli("worker-tokens", "x.csv", "--proxy", "http://p:3128", "--no-proxy")
    assert res.exit_code == 2
    assert "contradict" in res.stderr


def test_a_malformed_proxy_variable_is_a_usage_error_naming_it(
    tmp_path: Path, sim: StartSim
) -> None:
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(2))), "--base-url",
        "https://api.example.com/rest/v2", "--log-format", "json",
        env={**ENV, "HTTPS_PROXY": f"socks5h://{USER}:{PASSWORD}@proxy:1080"},
    )  # fmt: skip
    assert res.exit_code == 2
    message = res.event("usage_error")["message"]
    assert message.startswith("HTTPS_PROXY 'socks5h://***@proxy:1080': only http:// and https://")
    assert PASSWORD not in res.stderr


def _wait_for(proxy: ForwardProxy, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while text not in (log := proxy.log()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return log


def test_simulate_api_tls_options_go_together(tmp_path: Path) -> None:
    res = run_cli("simulate-api", "--port", "0", "--tls-cert", str(tmp_path / "server.pem"))
    assert res.exit_code == 2
    assert "--tls-cert and --tls-key go together" in res.stderr


def test_the_command_line_behind_a_proxy_as_a_user_runs_it(
    tmp_path: Path, ca: trustme.CA, proxy: ForwardProxy
) -> None:
    """simulate-api over HTTPS, then HTTPS_PROXY=... deel-batch worker-tokens: real processes."""
    leaf = ca.issue_cert(HOST)
    cert, key, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    server = subprocess.Popen(
        [sys.executable, "-m", "batch", "simulate-api", "--port", "0", "--rate", "0",
         "--tls-cert", str(cert), "--tls-key", str(key)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        assert banner.startswith("simulated Deel API on https://127.0.0.1:"), banner
        port = banner.split("https://127.0.0.1:")[1].split("/")[0]
        ids = new_ids(6)
        env = {
            **os.environ, **ENV, "SSL_CERT_FILE": str(ca_file), "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "localhost,127.0.0.1",
        }  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-m", "batch", "worker-tokens", str(write_csv(tmp_path / "in.csv", ids)),
             "--base-url", f"https://{HOST}:{port}/rest/v2", "-o", str(tmp_path / "o.jsonl"),
             "--log-format", "json"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        server.terminate()
        server.communicate(timeout=10)
    assert run.returncode == 0, run.stderr
    assert [r["status"] for r in read_jsonl(tmp_path / "o.jsonl")] == ["ok"] * 6
    assert '"proxy": "' + proxy.url + '"' in run.stderr
    assert set(proxy.wait_for_tunnels(1)) == {f"{HOST}:{port}"}


def test_the_library_raises_run_aborted_naming_the_proxy(tmp_path: Path) -> None:
    with forward_proxy(tmp_path / "gone") as gone:
        dead = gone.url
    with pytest.raises(RunAborted) as caught:
        create_worker_tokens_sync(
            new_ids(5), token="t0ken", base_url="https://api.example.com/rest/v2", proxy=dead
        )
    assert caught.value.reason.startswith(f"cannot connect to the proxy {dead} (")
    assert "set by the proxy argument" in caught.value.reason
    assert caught.value.results == []
