"""Calling the simulated API from a test: a real aiohttp client over loopback, plus a raw
socket for the answers a client library hides (a body cut off mid-way)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp

from jobs._simulator import SimulatedApi

PID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
ORG_TOKEN = "org-token"
SESSION_URL = "/rest/v2/workers/session"
CONTAINER_REQUEST_KEYS = {"method", "url", "status", "api_req_id", "docs", "source", "code"}


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def _headers(extra: Mapping[str, str] | None) -> dict[str, str]:
    """The org token and JSON, overridden by `extra` (an empty Authorization sends none)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ORG_TOKEN}"}
    headers.update(extra or {})
    return {name: value for name, value in headers.items() if value}


async def post(
    client: aiohttp.ClientSession,
    api: SimulatedApi,
    profile_id: str = PID,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> Answer:
    """`POST /workers/session` for `profile_id`, with the org token and `headers`."""
    data = json.dumps({"data": {"profile_id": profile_id}}).encode()
    async with client.post(
        api.base_url + "/workers/session",
        data=data,
        headers=_headers(headers),
        timeout=aiohttp.ClientTimeout(total=timeout),
        allow_redirects=False,
    ) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


async def delete(
    client: aiohttp.ClientSession,
    api: SimulatedApi,
    worker_id: str = PID,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> Answer:
    """`DELETE /workers/{worker_id}/session`, with the org token and `headers`."""
    async with client.delete(
        f"{api.base_url}/workers/{worker_id}/session",
        headers=_headers(headers),
        timeout=aiohttp.ClientTimeout(total=timeout),
        allow_redirects=False,
    ) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


def assert_container(
    answer: Answer, status: int, *, method: str = "POST", url: str = SESSION_URL
) -> dict[str, Any]:
    assert answer.status == status
    assert answer.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = answer.json()
    assert set(body) == {"request", "errors"}
    request = body["request"]
    assert set(request) == CONTAINER_REQUEST_KEYS
    assert request["method"] == method
    assert request["url"] == url
    assert request["status"] == status == request["code"]
    assert str(uuid.UUID(request["api_req_id"])) == request["api_req_id"]
    assert answer.headers["x-request-id"] == request["api_req_id"]
    assert isinstance(body["errors"][0]["message"], str)
    return body


def assert_valid_201(answer: Answer) -> tuple[str, dt.datetime]:
    assert answer.status == 201
    assert answer.headers["Content-Type"].startswith("application/json")
    data = answer.json()["data"]
    assert isinstance(data["token"], str)
    assert data["expires_at"].endswith("Z")
    return data["token"], dt.datetime.fromisoformat(data["expires_at"])


def worker_url(worker_id: str = PID) -> str:
    return f"/rest/v2/workers/{worker_id}/session"


class RawAnswer:
    """An answer read byte for byte until the server closed the connection."""

    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}


async def raw_post(api: SimulatedApi, profile_id: str = PID, key: str | None = None) -> RawAnswer:
    """POST over a bare socket and read everything the server sends before it closes."""
    host, _, rest = api.base_url.removeprefix("http://").partition(":")
    port = int(rest.split("/")[0])
    body = json.dumps({"data": {"profile_id": profile_id}}).encode()
    extra = f"Idempotency-Key: {key}\r\n" if key is not None else ""
    request = (
        f"POST {SESSION_URL} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {ORG_TOKEN}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return RawAnswer(await reader.read())
    finally:
        writer.close()
