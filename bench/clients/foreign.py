"""Another integration of the same account: calls at random moments (or evenly), never retried.

    python bench/clients/foreign.py BASE_URL RATE SECONDS [--even] [--seed N] [--start-after S]

Poisson arrivals at RATE calls per second on average (``--even``: one every 1/RATE s), each a
``POST {BASE_URL}/workers/session`` with a fresh profile ID and its own token (the API counts
every token of the account in one window). Prints one JSON line: calls, ok, refused (429),
other, and the time of each call and whether it was refused (for "the first 20").
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid

import aiohttp


async def main(argv: list[str]) -> int:
    base_url, rate, seconds = argv[0], float(argv[1]), float(argv[2])
    even = "--even" in argv
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1
    delay = float(argv[argv.index("--start-after") + 1]) if "--start-after" in argv else 0.0
    rng = random.Random(seed)
    url = base_url.rstrip("/") + "/workers/session"
    calls: list[tuple[float, int]] = []
    await asyncio.sleep(delay)
    started = time.monotonic()
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer foreign-integration"}) as s:

        async def one(at: float) -> None:
            body = {"data": {"profile_id": str(uuid.uuid4())}}
            try:
                async with s.post(url, json=body) as response:
                    await response.read()
                    calls.append((round(at, 3), response.status))
            except aiohttp.ClientError:
                calls.append((round(at, 3), 0))

        tasks = []
        at = 0.0
        while True:
            at += 1.0 / rate if even else rng.expovariate(rate)
            if at >= seconds:
                break
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            tasks.append(asyncio.create_task(one(time.monotonic() - started + delay)))
        await asyncio.gather(*tasks)
    calls.sort()
    summary = {
        "calls": len(calls),
        "ok": sum(status == 201 for _, status in calls),
        "refused": sum(status == 429 for _, status in calls),
        "other": sum(status not in (201, 429) for _, status in calls),
        "first_20_refused": sum(status == 429 for _, status in calls[:20]),
        "times": [[at, status == 429] for at, status in calls],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
