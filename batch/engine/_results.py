"""What the engine hands out: the stream of results, and why a run stopped early."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from batch.engine._types import Result

__all__ = ["Abort", "Cause", "Results", "Sender"]

Sender = MemoryObjectSendStream[Result]


class Cause(enum.Enum):
    """Why a run stopped for good; each front end words it for its own users."""

    CREDENTIALS = "credentials"  # the API refused the token (401/403)
    TLS = "tls"  # the API's certificate is not trusted, or the handshake failed
    PROXY = "proxy"  # the proxy refused the tunnel (407, 403) or was never reachable
    ENDPOINT = "endpoint"  # the base URL has no such endpoint (a web server's 404)
    API_VERSION = "api_version"  # the API does not serve the API version asked for
    REFUSED = "refused"  # the first answers all refused alike, none a success (_refusals)
    FAILING = "failing"  # nothing but transient failures for give_up_after seconds
    INPUT = "input"  # the input broke mid-way (a truncated gzip)
    OUTPUT = "output"  # the consumer could not keep a result (a full disk)


@dataclass(frozen=True, slots=True)
class Abort:
    """A run stopped early: the cause, one line for people, the exit code it means."""

    cause: Cause
    message: str
    exit_code: int = 3
    #: for CREDENTIALS, ENDPOINT and REFUSED: the HTTP status of the answers
    http_status: int | None = None


class Results:
    """The results of one run as they complete: ``async for result in results``."""

    def __init__(self, receive: MemoryObjectReceiveStream[Result]) -> None:
        self._receive = receive

    def __aiter__(self) -> Results:
        return self

    async def __anext__(self) -> Result:
        try:
            try:
                return self._receive.receive_nowait()  # no checkpoint when one is waiting
            except anyio.WouldBlock:
                return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None
