"""Cost of the results file's durability policy (python -m bench.fsync_cost).

One write() per record, fsync at most once a second (the default), against a buffered
file and against fsync on every record. 100,000 records of a realistic size.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import batch._output as out_mod
from batch._output import OutputFile

line = (
    '{"profile_id": "3678f78b-1111-4222-8333-444455556666", "status": "ok", "token": "wt_'
    + "x" * 32
    + '", "expires_at": "2026-11-29T20:54:03.064Z", "attempts": 1, "line": 2}\n'
)
N = 100_000


def run(interval):
    out_mod.FSYNC_INTERVAL = interval
    d = tempfile.mkdtemp()
    f = OutputFile(os.path.join(d, "r.jsonl"), append=False)
    t = time.perf_counter()
    for _ in range(N):
        f.write(line)
    f.close()
    return (time.perf_counter() - t) / N * 1e6


def buffered():
    d = tempfile.mkdtemp()
    t = time.perf_counter()
    with open(os.path.join(d, "r.jsonl"), "w") as fh:
        for _ in range(N):
            fh.write(line)
    return (time.perf_counter() - t) / N * 1e6


print(f"buffered file, no fsync:            {buffered():6.2f} us/record")
print(f"one write() per record, no fsync:   {run(1e9):6.2f} us/record")
print(f"one write() per record, fsync <=1/s (default): {run(1.0):6.2f} us/record")
print(f"one write() + fsync every record:   {run(0.0):6.2f} us/record")
