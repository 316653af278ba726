"""Cost of the results file's durability policy (python -m bench.fsync_cost).

One write() per record, fsync at most once a second (the default), against a buffered
file and against fsync on every record. 100,000 records of a realistic size.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import batch.output._file as output
from batch.output._file import OutputFile

LINE = (
    '{"profile_id": "3678f78b-1111-4222-8333-444455556666", "status": "ok", "token": "wt_'
    + "x" * 32
    + '", "expires_at": "2026-11-29T20:54:03.064Z", "attempts": 1, "line": 2}\n'
)
N = 100_000


def per_record_us(interval: float | None) -> float:
    """Microseconds per record: through OutputFile with an fsync interval, or buffered (None)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.jsonl"
        start = time.perf_counter()
        if interval is None:
            with path.open("w") as handle:
                for _ in range(N):
                    handle.write(LINE)
        else:
            output.FSYNC_INTERVAL = interval
            out = OutputFile(str(path), start="overwrite")
            for _ in range(N):
                out.write(LINE)
            out.close()
        return (time.perf_counter() - start) / N * 1e6


def main() -> None:
    default = output.FSYNC_INTERVAL
    try:
        print(
            f"buffered file, no fsync:                        {per_record_us(None):7.2f} us/record"
        )
        print(
            f"one write() per record, no fsync:               {per_record_us(1e9):7.2f} us/record"
        )
        print(
            f"one write() per record, fsync <= 1/s (default): {per_record_us(default):7.2f} us/record"
        )
        print(
            f"one write() and fsync per record:               {per_record_us(0.0):7.2f} us/record"
        )
    finally:
        output.FSYNC_INTERVAL = default


if __name__ == "__main__":
    main()
