"""A file is read as it was when opened: lines appended while it is read are not input.

A run that ends another job's records appends to its own input (that job's results file);
those lines must not come back as repeats of the IDs already read.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import pytest

from batch.input._reader import open_rows

IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 6)]


def _jsonl(ids: list[str]) -> bytes:
    return "".join(json.dumps({"profile_id": pid, "status": "ok"}) + "\n" for pid in ids).encode()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_lines_appended_after_the_open_are_not_read(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"in.{fmt}"
    body = (
        _jsonl(IDS[:3]) if fmt == "jsonl" else ("profile_id\n" + "\n".join(IDS[:3]) + "\n").encode()
    )
    path.write_bytes(body)
    with open_rows(str(path), fmt=None, id_field="profile_id") as rows:
        with path.open("ab") as appended:  # the run's own records, as they come
            appended.write(
                _jsonl(IDS[3:]) if fmt == "jsonl" else ("\n".join(IDS[3:]) + "\n").encode()
            )
        assert [row.value for row in rows] == IDS[:3]
    assert path.stat().st_size > len(body)  # it did grow meanwhile


def test_a_gzip_is_read_as_it_was_too(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(_jsonl(IDS[:2])))
    with open_rows(str(path), fmt=None, id_field="profile_id") as rows:
        with path.open("ab") as appended:
            appended.write(gzip.compress(_jsonl(IDS[2:])))  # a second member
        assert [row.value for row in rows] == IDS[:2]


def test_a_pipe_is_read_to_its_end(tmp_path: Path) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as pipe:
            pipe.write(_jsonl(IDS))

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        with open_rows(str(fifo), fmt="jsonl", id_field="profile_id") as rows:
            assert [row.value for row in rows] == IDS
    finally:
        writer.join(10)
