"""The shared window across hosts: sorted sets in Redis, claimed by Lua scripts.

The scripts read the server's clock (``TIME``), so every host's claims are on one clock and
no client clock, skewed or stepped by NTP, can make the window admit more than the limit.
Keys, all under ``batch:quota:<hash>:`` and all with a PEXPIRE (an abandoned quota leaves
nothing behind): ``starts`` (starts not refused; score: µs), ``all`` (every recent start),
``refused``, ``runs`` (run id -> last claim), ``waiting`` and ``due`` (runs waiting for a
start: since when, and when each is back) and ``meta`` (the cool-down's end, the last
reclaimed gap, the shared controller state and its version).

A claim is one script call. Answers worth reporting (refusals, reclaims) are marked by one
script, which also says what each refused window accepted; the controller runs here, on the
state that script returned, and a third script stores the result if nobody changed it in
between (else the report starts over). redis-py is imported only for a ``redis://`` store.
"""

from __future__ import annotations

import os
import secrets
import struct
from typing import Any

from batch.engine._controller import NOISE_SAMPLE, STATE_FIELDS, WINDOW, ControlState
from batch.engine._quota_store import ALIVE_FOR, MAX_PAUSE, Ask, Claim

__all__ = ["RedisStore"]

_US = 1_000_000
_STATE = struct.Struct(f"<{STATE_FIELDS}d")
#: A waiting run that has not come back by the time it was told (plus this) is not waited for.
LATE_US = 100_000
#: Keys live this long after the last claim (ms).
KEEP_MS = 60_000

_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local run, capacity, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local guard, listen, alive, late = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local keep = tonumber(ARGV[8])
local starts, all, refused, runs, waiting, due, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
redis.call('ZADD', runs, now, run)
redis.call('ZREMRANGEBYSCORE', runs, '-inf', now - alive)
redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - 10000000)
redis.call('ZREMRANGEBYSCORE', refused, '-inf', now - 60000000)
redis.call('ZREMRANGEBYRANK', all, 0, -201)
local cool = tonumber(redis.call('HGET', meta, 'cool') or '0')
local reclaimed = tonumber(redis.call('HGET', meta, 'reclaimed') or '-1')
local version = tonumber(redis.call('HGET', meta, 'version') or '0')
local room, began, inside = capacity, -1, false
if listen > 0 then
  began = math.floor(now / listen) * listen
  inside = now - began < window
  if inside and room >= 2 then room = room - 1 end
end
local leaves, others = {}, 0
local entries = redis.call('ZRANGEBYSCORE', starts, '(' .. (now - window - guard), '+inf', 'WITHSCORES')
for i = 1, #entries, 2 do
  local leave = tonumber(entries[i + 1]) + window
  local theirs = string.sub(entries[i], 1, #run + 1) ~= run .. ':'
  if theirs then leave = leave + guard end
  if leave > now then
    table.insert(leaves, leave)
    if theirs then others = others + 1 end
  end
end
local free = room - #leaves
local mine = tonumber(redis.call('HGET', waiting, run) or '0')
local since = mine > 0 and mine or now
local ahead, soonest = 0, nil
local list = redis.call('HGETALL', waiting)
for i = 1, #list, 2 do
  local back = tonumber(redis.call('HGET', due, list[i]) or '0')
  if back < now - late then
    redis.call('HDEL', waiting, list[i])
    redis.call('HDEL', due, list[i])
  elseif list[i] ~= run and tonumber(list[i + 1]) < since then
    ahead = ahead + 1
    if soonest == nil or back - late < soonest then soonest = back - late end
  end
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, keep) end
if now >= cool and free > ahead then
  local reclaim = 0
  if listen > 0 and not inside and began > reclaimed and #leaves >= capacity - 1 then
    reclaim = 1
    redis.call('HSET', meta, 'reclaimed', string.format('%.0f', began))
  end
  local member = run .. ':' .. string.format('%.0f', now) .. ':' .. redis.call('HINCRBY', meta, 'seq', 1)
  redis.call('ZADD', starts, now, member)
  redis.call('ZADD', all, now, member)
  redis.call('HDEL', waiting, run)
  redis.call('HDEL', due, run)
  return {0, 0, now, reclaim, version}
end
local wait
if now < cool then
  wait = cool - now
elseif free > 0 then
  wait = math.min(math.max(soonest - now, 1000), window)
else
  table.sort(leaves)
  wait = math.max(leaves[math.min(#leaves, ahead - free + 1)] - now, 100)
end
if mine == 0 then redis.call('HSET', waiting, run, now) end
redis.call('HSET', due, run, now + wait + late)
return {wait, others, now, 0, version}
"""

# Mark this run's answers; for each, what its window accepted and how many of the starts up
# to it were refused. Returns {now, version, state, accepted1, refused1, ...}.
_REPORT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local starts, all, refused, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[7]
local run, window, sample = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {now, tonumber(redis.call('HGET', meta, 'version') or '0'), redis.call('HGET', meta, 'state') or ''}
for i = 4, #ARGV, 2 do
  local at, no = ARGV[i], tonumber(ARGV[i + 1])
  local found = redis.call('ZRANGEBYSCORE', all, at, at)
  for _, member in ipairs(found) do
    if string.sub(member, 1, #run + 1) == run .. ':' and no == 1 then
      redis.call('ZREM', starts, member)
      redis.call('ZADD', refused, at, member)
    end
  end
  local accepted = redis.call('ZCOUNT', starts, '(' .. (tonumber(at) - window), '(' .. at)
  local latest = redis.call('ZREVRANGEBYSCORE', all, at, '-inf', 'LIMIT', 0, sample)
  local bad = 0
  for _, member in ipairs(latest) do
    if redis.call('ZSCORE', refused, member) then bad = bad + 1 end
  end
  table.insert(out, accepted)
  table.insert(out, bad)
end
return out
"""

_COMMIT = """
local meta = KEYS[7]
local version = tonumber(redis.call('HGET', meta, 'version') or '0')
if version ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', meta, 'state', ARGV[2], 'version', version + 1)
redis.call('PEXPIRE', meta, tonumber(ARGV[3]))
return version + 1
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local till = now + tonumber(ARGV[1])
local cool = tonumber(redis.call('HGET', KEYS[7], 'cool') or '0')
if till > cool then redis.call('HSET', KEYS[7], 'cool', string.format('%.0f', till)) end
redis.call('PEXPIRE', KEYS[7], tonumber(ARGV[2]))
return 0
"""

_RUNNING = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[4])
"""


class RedisStore:
    def __init__(self, url: str, key: str) -> None:
        from redis.asyncio import Redis  # noqa: PLC0415 - only for a redis:// store
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        # Short timeouts and one retry inside the client (on a fresh connection: after a
        # restart, each pooled one fails once): a store that does not answer at once is
        # "unavailable", and the run paces itself alone meanwhile.
        self._client: Any = Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=1.0, retry=Retry(NoBackoff(), 1)
        )  # redis-py's client is not typed
        self._scripts = {
            name: self._client.register_script(text)
            for name, text in (
                ("claim", _CLAIM), ("report", _REPORT), ("commit", _COMMIT),
                ("pause", _PAUSE), ("running", _RUNNING),
            )
        }  # fmt: skip
        prefix = f"batch:quota:{key}"
        names = ("starts", "all", "refused", "runs", "waiting", "due", "meta")
        self._keys = [f"{prefix}:{name}" for name in names]
        self._run = f"{os.getpid()}-{secrets.token_hex(4)}"

    async def _call(self, script: str, *args: Any) -> Any:
        return await self._scripts[script](keys=self._keys, args=list(args))

    async def claim(self, ask: Ask) -> Claim:
        state = await self._report(ask) if ask.answers and ask.controller is not None else None
        args = (
            self._run, ask.capacity, round(ask.window * _US), round(ask.guard * _US),
            round(ask.listen * _US), round(ALIVE_FOR * _US), LATE_US, KEEP_MS,
        )  # fmt: skip
        wait_us, others, now_us, reclaim, version = (
            int(x) for x in await self._call("claim", *args)
        )
        if state is None and version and version != ask.version:
            state = await self._state()
        return Claim(
            wait=max(wait_us, 0) / _US if wait_us else 0.0,
            others=others,
            at=now_us / _US,
            reclaim=bool(reclaim),
            version=version,
            state=state,
        )

    async def _state(self) -> ControlState | None:
        raw = await self._client.hget(self._keys[6], "state")
        return ControlState.from_tuple(_STATE.unpack(raw)) if raw else None

    async def _report(self, ask: Ask) -> ControlState | None:
        """Mark the answers, run the controller on the shared state, store it (retried if
        another run stored one in between). The controller's state is left as stored."""
        controller = ask.controller
        assert controller is not None
        mine = controller.state
        flat: list[Any] = []
        for answer in ask.answers:
            flat += [round(answer.at * _US), int(answer.refused)]
        for _ in range(5):
            now_us, version, raw, *figures = await self._call(
                "report", self._run, round(WINDOW * _US), NOISE_SAMPLE, *flat
            )
            now = int(now_us) / _US
            controller.state = ControlState.from_tuple(_STATE.unpack(raw)) if raw else mine
            changed = False
            for index, answer in enumerate(ask.answers):
                if not (answer.refused or answer.reclaim):
                    continue
                accepted, refused = int(figures[2 * index]), int(figures[2 * index + 1])
                controller.answer(
                    now, started=answer.at, refused=answer.refused, accepted=accepted,
                    noise=refused / NOISE_SAMPLE, reclaim=answer.reclaim,
                )  # fmt: skip
                changed = True
            if not changed:
                return None
            packed = _STATE.pack(*controller.state.as_tuple())
            if int(await self._call("commit", int(version), packed, KEEP_MS)) >= 0:
                return controller.state
        return None

    async def pause(self, seconds: float) -> None:
        await self._call("pause", round(min(seconds, MAX_PAUSE) * _US), KEEP_MS)

    async def running(self) -> int:
        return int(await self._call("running", round(ALIVE_FOR * _US)))

    async def aclose(self) -> None:
        await self._client.aclose()
