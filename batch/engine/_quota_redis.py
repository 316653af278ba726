"""The shared window across hosts: a sorted set in Redis, claimed by one Lua script.

The script reads the server's clock (``TIME``), so every host's claims are on one clock and
no client clock, skewed or stepped by NTP, can make the window admit more than the limit.
Keys (all with a PEXPIRE, so an abandoned quota leaves nothing behind):
``batch:quota:<hash>:starts`` (score: start time in µs, member: run id + time),
``...:cool`` (the shared cool-down's end, µs) and ``...:runs`` (run id -> last claim).
redis-py is imported only when a ``redis://`` store is used.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from batch.engine._quota import ALIVE_FOR, Claim

__all__ = ["RedisStore"]

_SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cmd = ARGV[1]
local alive = tonumber(ARGV[5])
if cmd == 'pause' then
  local till = now + tonumber(ARGV[2])
  local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  if till > cur then
    redis.call('SET', KEYS[2], string.format('%.0f', till), 'PX', math.ceil(tonumber(ARGV[2]) / 1000) + 1)
  end
  return {0, 0}
end
if cmd == 'running' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - alive)
  return {redis.call('ZCARD', KEYS[3]), 0}
end
local capacity = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local run = ARGV[4]
local guard = tonumber(ARGV[6])
redis.call('ZADD', KEYS[3], now, run)
redis.call('PEXPIRE', KEYS[3], math.ceil(alive / 1000))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window - guard)
-- When each start leaves the window: another run's one `guard` later than our own.
local leaves = {}
local others = 0
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local leave = tonumber(entries[i + 1]) + window
  if string.sub(entries[i], 1, #run) ~= run then
    leave = leave + guard
    if leave > now then others = others + 1 end
  end
  if leave > now then table.insert(leaves, leave) end
end
local cool = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < cool then return {math.max(1, cool - now), others} end
if #leaves < capacity then
  redis.call('ZADD', KEYS[1], now, run .. ':' .. string.format('%.0f', now) .. ':' .. #entries)
  redis.call('PEXPIRE', KEYS[1], math.ceil((window + guard) / 1000) + 1000)
  return {0, 0}
end
table.sort(leaves)
return {math.max(1, leaves[#leaves - capacity + 1] - now), others}
"""

_US = 1_000_000


class RedisStore:
    def __init__(self, url: str, key: str) -> None:
        from redis.asyncio import Redis  # noqa: PLC0415 - only for a redis:// store
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        # Short timeouts and no retries inside the client: a store that does not answer at
        # once is "unavailable", and the run paces itself alone meanwhile.
        self._client: Any = Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(_SCRIPT)
        prefix = f"batch:quota:{key}"
        self._keys = [f"{prefix}:starts", f"{prefix}:cool", f"{prefix}:runs"]
        self._run = f"{os.getpid()}-{secrets.token_hex(4)}"

    async def _call(self, cmd: str, *args: float | str, guard: float = 0.0) -> list[int]:
        padded = [cmd, *args, *([0] * (3 - len(args)))][:4]
        alive, guard_us = int(ALIVE_FOR * _US), int(guard * _US)
        result = await self._script(keys=self._keys, args=[*padded, alive, guard_us])
        return [int(x) for x in result]

    async def claim(self, capacity: int, window: float, guard: float = 0.0) -> Claim:
        args = (capacity, int(window * _US), self._run)
        wait_us, others = await self._call("claim", *args, guard=guard)
        return Claim(max(wait_us, 0) / _US if wait_us else 0.0, others)

    async def pause(self, seconds: float) -> None:
        await self._call("pause", int(seconds * _US))

    async def running(self) -> int:
        count, _ = await self._call("running")
        return count

    async def aclose(self) -> None:
        await self._client.aclose()
