"""What each exception of a request means as a Failure, most specific first.

aiohttp's exceptions subclass each other: a certificate error is an SSL error and a
connector error, a proxy connection error is a connector error, a connection timeout
is a TimeoutError and a ClientError. The real ones come from real connections in
test_proxy.py and test_faults.py; these pin the order of the mapping.
"""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from batch.engine import Failure
from batch.engine._proxy import ProxyChoice, parse_proxy
from batch.engine._transport import (
    Endpoint,
    ProxyRefused,
    ProxyUnreachable,
    TlsFailure,
    failure_of,
)

URL = "https://api.example.com/v2/things"
DIRECT = Endpoint("https://api.example.com/v2", 30.0)
PROXIED = Endpoint(
    "https://api.example.com/v2", 30.0, ProxyChoice(parse_proxy("proxy:3128", "P"), "HTTPS_PROXY")
)


def _key(host: str, port: int = 443) -> ConnectionKey:
    return ConnectionKey(host, port, True, True, None, None, None)


def test_a_connection_timeout_is_a_timeout_not_a_network_error() -> None:
    assert failure_of(aiohttp.ConnectionTimeoutError("slow"), DIRECT, URL) == Failure(
        "timeout", "no complete answer within 30s"
    )


def test_an_untrusted_certificate_is_fatal_tls_not_a_connect_error() -> None:
    error = ssl.SSLCertVerificationError("certificate verify failed")
    failure = failure_of(
        aiohttp.ClientConnectorCertificateError(_key("api.example.com"), error), DIRECT, URL
    )
    assert isinstance(failure, TlsFailure)
    assert failure.message.startswith("TLS certificate of api.example.com is not trusted (")
    assert failure.message.endswith("Fix the trust store (SSL_CERT_FILE) or the base URL")


def test_the_proxy_certificate_is_named_as_the_proxys() -> None:
    error = ssl.SSLCertVerificationError("certificate verify failed")
    failure = failure_of(
        aiohttp.ClientConnectorCertificateError(_key("proxy", 3128), error), PROXIED, URL
    )
    assert isinstance(failure, TlsFailure)
    assert failure.message.startswith("TLS certificate of the proxy http://proxy:3128 ")
    assert failure.message.endswith("or HTTPS_PROXY")


def test_a_failed_handshake_is_tls() -> None:
    error = ssl.SSLError("handshake failure")
    failure = failure_of(aiohttp.ClientSSLError(_key("api.example.com"), error), DIRECT, URL)
    assert failure == TlsFailure(
        "network", "TLS handshake with api.example.com failed; nothing was sent"
    )


def test_an_unreachable_proxy_is_the_proxys_not_the_apis() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('10.0.0.1', 3128)")
    failure = failure_of(
        aiohttp.ClientProxyConnectionError(_key("proxy", 3128), refused), PROXIED, URL
    )
    assert failure == ProxyUnreachable(
        "network",
        "cannot connect to the proxy http://proxy:3128 (Connection refused; set by "
        "HTTPS_PROXY); nothing was sent",
    )


@pytest.mark.parametrize(
    ("status", "kind", "start"),
    [
        (
            502,
            Failure,
            "the proxy http://proxy:3128 could not reach the API at api.example.com:443",
        ),
        (403, ProxyRefused, "the proxy refused the tunnel to api.example.com:443 (403 Forbidden"),
    ],
)
def test_a_proxy_answer_is_a_blip_from_5xx_and_a_refusal_from_4xx(
    status: int, kind: type[Failure], start: str
) -> None:
    reason = "Forbidden" if status == 403 else "Bad Gateway"
    error = aiohttp.ClientHttpProxyError(None, (), status=status, message=reason)  # type: ignore[arg-type]
    failure = failure_of(error, PROXIED, URL)
    assert type(failure) is kind
    assert failure.message.startswith(start)


def test_a_dropped_connection_says_whether_a_proxy_was_between() -> None:
    dropped = aiohttp.ServerDisconnectedError()
    assert failure_of(dropped, DIRECT, URL).message == (
        "the server closed the connection without answering"
    )
    assert failure_of(dropped, PROXIED, URL).message == (
        "the connection through the proxy http://proxy:3128 closed without an answer"
    )


def test_a_refused_connection_names_host_and_port() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    failure = failure_of(
        aiohttp.ClientConnectorError(_key("api.example.com"), refused), DIRECT, URL
    )
    assert failure == Failure(
        "network", "cannot connect to api.example.com:443 (Connection refused)"
    )


def test_anything_else_is_a_network_failure_named_by_its_type() -> None:
    assert failure_of(ConnectionResetError(104, "Connection reset by peer"), DIRECT, URL) == (
        Failure("network", "ConnectionResetError: Connection reset by peer")
    )
    assert failure_of(aiohttp.ClientPayloadError("broken"), DIRECT, URL) == Failure(
        "network", "the connection broke while the answer was being read"
    )
