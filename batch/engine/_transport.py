"""One HTTP attempt: a Response, or a Failure of kind network/timeout. Nothing else escapes."""

from __future__ import annotations

import os
import socket
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from batch.engine._errors import reason_of
from batch.engine._proxy import ProxyChoice
from batch.engine._types import Failure, Request, Response

__all__ = [
    "MAX_BODY",
    "Endpoint",
    "HostUnresolved",
    "ProxyRefused",
    "ProxyUnreachable",
    "TlsFailure",
    "failure_of",
    "send",
]

#: Bodies are read up to this many bytes; the rest is not read (the connection is dropped).
#: The API's answers are a few hundred bytes; a proxy's error page a few KiB.
MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class TlsFailure(Failure):
    """The API's certificate is not trusted, or the TLS handshake failed: fatal, not retried."""


@dataclass(frozen=True, slots=True)
class ProxyRefused(Failure):
    """The proxy answered CONNECT with a 4xx (407 credentials, 403 its policy): fatal, nothing
    reached the API, and every other request would get the same answer."""


@dataclass(frozen=True, slots=True)
class ProxyUnreachable(Failure):
    """Nothing answers at the proxy's address: fatal until the API has answered through it."""


@dataclass(frozen=True, slots=True)
class HostUnresolved(Failure):
    """The API's host name does not resolve (DNS). Before the API ever answered: fatal when
    the resolver says the name does not exist (``definitive``), else retried a few times
    (`batch.engine._judge.UNRESOLVED_LIMIT`); after, a blip like any network failure."""

    definitive: bool = False


#: getaddrinfo's answers that say the name has no address (not that the resolver failed)
_NO_SUCH_NAME = frozenset({socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)})


DIRECT = ProxyChoice(None, "no proxy set")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a run's requests go and how: the API root, the route (a proxy, or direct)
    and the time one attempt may take."""

    base_url: str
    timeout: float
    route: ProxyChoice = DIRECT

    def url(self, request: Request) -> str:
        return self.base_url.rstrip("/") + request.path


async def send(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    request: Request,
    *,
    trace_ctx: object = None,
) -> Response | Failure:
    """Send ``request``: the answer (its body read up to `MAX_BODY`), or why there is none."""
    url = endpoint.url(request)
    proxy = endpoint.route.proxy
    authorization = proxy.authorization if proxy else None
    try:
        async with session.request(
            request.method,
            url,
            json=request.json,
            headers=request.headers,
            timeout=aiohttp.ClientTimeout(total=endpoint.timeout),
            allow_redirects=False,
            trace_request_ctx=trace_ctx,
            # Credentials travel only in this header, on the CONNECT to the proxy (for an
            # https URL); the proxy URL handed to aiohttp has none, so no error shows them.
            proxy=proxy.url if proxy else None,
            proxy_headers={"Proxy-Authorization": authorization} if authorization else None,
        ) as response:
            received_at = datetime.now(UTC)
            body = await _read_body(response)
            if proxy and response.status == 407:  # plain http through the proxy
                return _proxy_refused(endpoint.route, url, 407, response.reason)
            return Response(response.status, response.headers, body, received_at)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return failure_of(exc, endpoint, url)


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """The body up to `MAX_BODY`; the rest is not read (a server may send without end)."""
    body = await response.content.read(MAX_BODY + 1)
    while len(body) <= MAX_BODY and (more := await response.content.read(MAX_BODY + 1 - len(body))):
        body += more
    if len(body) > MAX_BODY:
        response.close()
        body = body[:MAX_BODY]
    return body


# -- what went wrong, as a Failure ----------------------------------------------------


def failure_of(  # noqa: PLR0911 - one return per exception class, in the order that picks between subclasses
    exc: TimeoutError | aiohttp.ClientError | OSError, endpoint: Endpoint, url: str
) -> Failure:
    """The failure an exception of `send` for ``url`` means. The first match wins, most specific
    first: aiohttp's exceptions subclass each other (a certificate error is an SSL error
    and a connector error; a proxy connection error is a connector error; its timeouts
    are TimeoutErrors and ClientErrors)."""
    if isinstance(exc, TimeoutError):
        return Failure("timeout", f"no complete answer within {endpoint.timeout:g}s")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return _untrusted(exc, endpoint.route)
    if isinstance(exc, aiohttp.ClientSSLError):
        return TlsFailure("network", f"TLS handshake with {exc.host} failed; nothing was sent")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return _unresolved(exc, endpoint.route)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return _proxy_unreachable(exc, endpoint.route)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return _proxy_error(exc, endpoint.route, url)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return _disconnected(endpoint.route)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure(
            "network", f"cannot connect to {exc.host}:{exc.port} ({reason_of(exc.os_error)})"
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Failure("network", "the connection broke while the answer was being read")
    return Failure("network", f"{type(exc).__name__}: {reason_of(exc)}")


def _is_proxy_host(host: str, route: ProxyChoice) -> bool:
    """Whether ``host`` (a connection error's) is the route's proxy, not the API."""
    proxy = route.proxy
    return proxy is not None and host == urllib.parse.urlsplit(proxy.url).hostname


def _untrusted(exc: aiohttp.ClientConnectorCertificateError, route: ProxyChoice) -> Failure:
    reason = reason_of(exc.certificate_error)
    proxy = route.proxy
    if _is_proxy_host(exc.host, route):
        assert proxy is not None
        return TlsFailure(
            "network",
            f"TLS certificate of the proxy {proxy.url} is not trusted ({reason}); "
            f"nothing was sent. Fix the trust store (SSL_CERT_FILE) or {route.reason}",
        )
    inspecting = (
        f"; if the proxy {proxy.url} inspects TLS, its CA certificate belongs in SSL_CERT_FILE"
        if proxy
        else ""
    )
    return TlsFailure(
        "network",
        f"TLS certificate of {exc.host} is not trusted ({reason}); "
        f"nothing was sent. Fix the trust store (SSL_CERT_FILE) or the base URL{inspecting}",
    )


def _unresolved(exc: aiohttp.ClientConnectorDNSError, route: ProxyChoice) -> Failure:
    """A name that does not resolve: the proxy's (the API's name is the proxy's to resolve
    then), or the API's own."""
    reason = reason_of(exc.os_error)  # a gaierror's words: its errno is not an OS errno
    proxy = route.proxy
    if _is_proxy_host(exc.host, route):
        assert proxy is not None
        return ProxyUnreachable(
            "network",
            f"the proxy host {exc.host} does not resolve ({reason}; proxy {proxy.url} set by "
            f"{route.reason}); nothing was sent",
        )
    definitive = isinstance(exc.os_error, socket.gaierror) and exc.os_error.errno in _NO_SUCH_NAME
    return HostUnresolved(
        "network", f"the API host {exc.host} does not resolve ({reason})", definitive=definitive
    )


def _proxy_unreachable(exc: aiohttp.ClientProxyConnectionError, route: ProxyChoice) -> Failure:
    assert route.proxy is not None
    return ProxyUnreachable(
        "network",
        f"cannot connect to the proxy {route.proxy.url} ({_os_reason(exc.os_error)}; "
        f"set by {route.reason}); nothing was sent",
    )


def _proxy_error(exc: aiohttp.ClientHttpProxyError, route: ProxyChoice, url: str) -> Failure:
    if exc.status >= 500:  # the proxy is there but could not open the way on
        proxy = route.proxy
        return Failure(
            "network",
            f"the proxy {proxy.url if proxy else ''} could not reach the API at "
            f"{_target(url)} ({exc.status} {exc.message})",
        )
    return _proxy_refused(route, url, exc.status, exc.message)


def _disconnected(route: ProxyChoice) -> Failure:
    if route.proxy:
        return Failure(
            "network",
            f"the connection through the proxy {route.proxy.url} closed without an answer",
        )
    return Failure("network", "the server closed the connection without answering")


def _proxy_refused(route: ProxyChoice, url: str, status: int, reason: str | None) -> Failure:
    proxy = route.proxy
    assert proxy is not None
    what = f"the proxy refused the tunnel to {_target(url)} ({status} {reason or ''}".rstrip()
    what += f"; proxy {proxy.url} set by {route.reason})"
    if status == 407 and proxy.authorization:
        hint = f"the user name or password in {route.reason} is wrong"
    elif status == 407:
        hint = f"it needs credentials: http://USER:PASSWORD@HOST:PORT in {route.reason}"
    elif status == 403:
        hint = (
            "its policy forbids this destination: ask its administrators, "
            "or go around it (NO_PROXY) if the network allows"
        )
    else:
        hint = "check the proxy settings"
    return ProxyRefused("network", f"{what}: {hint}; nothing was sent")


def _target(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _os_reason(exc: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('h', p)``."""
    return os.strerror(exc.errno) if exc.errno else reason_of(exc)
