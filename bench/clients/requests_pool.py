"""What admin scripts usually are: `requests` + a thread pool (one Session per thread, so
connections are reused; a script calling `requests.post` each time would be slower still).

    python bench/clients/requests_pool.py BASE_URL INPUT.csv OUTPUT.jsonl THREADS
"""

import csv
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

local = threading.local()


def main(base_url: str, path: str, out_path: str, threads: int) -> None:
    with open(path, newline="") as f:
        ids = [row["profile_id"] for row in csv.DictReader(f)]
    url = base_url + "/workers/session"
    headers = {"Authorization": "Bearer " + os.environ["DEEL_API_TOKEN"]}

    def one(pid: str) -> dict:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        resp = session.post(url, json={"data": {"profile_id": pid}}, headers=headers, timeout=30)
        data = resp.json()["data"] if resp.status_code == 201 else {}
        return {"profile_id": pid, "status": resp.status_code, **data}

    with open(out_path, "w") as out, ThreadPoolExecutor(threads) as pool:
        for record in pool.map(one, ids):
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
