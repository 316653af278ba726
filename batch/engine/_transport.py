"""One HTTP attempt: a Response, or a Failure of kind network/timeout. Nothing else escapes."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp

from batch.engine._types import Failure, Request, Response

__all__ = ["MAX_BODY", "TlsFailure", "send"]

#: Bodies are read up to this many bytes; the rest is not read (the connection is dropped).
#: The API's answers are a few hundred bytes; a proxy's error page a few KiB.
MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class TlsFailure(Failure):
    """The API's certificate is not trusted, or the TLS handshake failed: fatal, not retried."""


async def send(
    session: aiohttp.ClientSession, base_url: str, request: Request, timeout: float
) -> Response | Failure:
    url = base_url.rstrip("/") + request.path
    try:
        async with session.request(
            request.method,
            url,
            json=request.json,
            headers=request.headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            body = await response.content.read(MAX_BODY + 1)
            while len(body) <= MAX_BODY and (
                more := await response.content.read(MAX_BODY + 1 - len(body))
            ):
                body += more
            if len(body) > MAX_BODY:
                response.close()  # the rest is not read: a server may send without end
                body = body[:MAX_BODY]
            return Response(response.status, response.headers, body)
    except TimeoutError:
        return Failure("timeout", f"no complete answer within {timeout:g}s")
    except aiohttp.ClientConnectorCertificateError as exc:
        return TlsFailure(
            "network",
            f"TLS certificate of {exc.host} is not trusted ({_reason(exc.certificate_error)}); "
            "nothing was sent. Fix the trust store (SSL_CERT_FILE) or --base-url",
        )
    except aiohttp.ClientSSLError as exc:
        return TlsFailure("network", f"TLS handshake with {exc.host} failed; nothing was sent")
    except aiohttp.ServerDisconnectedError:
        return Failure("network", "the server closed the connection without answering")
    except aiohttp.ClientConnectorError as exc:
        return Failure(
            "network", f"cannot connect to {exc.host}:{exc.port} ({_reason(exc.os_error)})"
        )
    except aiohttp.ClientPayloadError:
        return Failure("network", "the connection broke while the answer was being read")
    except aiohttp.ClientError as exc:
        return Failure("network", f"{type(exc).__name__}: {_reason(exc)}")
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        return Failure("network", f"{type(exc).__name__}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
    return str(text).splitlines()[0][:200] if text else type(exc).__name__
