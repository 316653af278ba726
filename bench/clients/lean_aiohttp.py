"""The leanest aiohttp loop: semaphore + post + write. No limiter, no retry, no logging.

python bench/clients/lean_aiohttp.py BASE_URL INPUT.csv OUTPUT.jsonl CONCURRENCY
"""

import asyncio
import csv
import json
import os
import sys

import aiohttp


async def main(base_url: str, path: str, out_path: str, concurrency: int) -> None:
    with open(path, newline="") as f:  # noqa: ASYNC230 - before any request
        ids = [row["profile_id"] for row in csv.DictReader(f)]
    url = base_url + "/workers/session"
    headers = {"Authorization": "Bearer " + os.environ["DEEL_API_TOKEN"]}
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    with open(out_path, "w") as out:  # noqa: ASYNC230 - lean on purpose: plain buffered writes
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def one(pid: str) -> None:
                async with sem:
                    async with session.post(url, json={"data": {"profile_id": pid}}) as resp:
                        body = await resp.read()
                    data = json.loads(body)["data"] if resp.status == 201 else {}
                    out.write(json.dumps({"profile_id": pid, "status": resp.status, **data}) + "\n")

            await asyncio.gather(*(one(pid) for pid in ids))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
