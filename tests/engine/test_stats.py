"""Counting what the engine hands out, and what the consumer could not keep."""

from __future__ import annotations

from batch.engine import Failure, Result, Stats

OK = Result("k1", 1, "ok", 1, data={"token": "t"})
FAILED = Result("k2", 2, "error", 5, error=Failure("http", "Not Found", http_status=404))
INVALID = Result("x", 3, "error", 0, error=Failure("invalid_input", "'x' is not a UUID"))
CUT = Result("k3", 4, "error", 1, error=Failure("aborted", "request cut off by the shutdown"))


def test_each_result_counts_once_by_its_outcome() -> None:
    stats = Stats()
    for result in (OK, OK, FAILED, INVALID, CUT):
        stats.count(result)
    assert (stats.ok, stats.failed, stats.invalid, stats.not_attempted) == (2, 2, 1, 0)
    assert stats.by_outcome() == {
        "ok": 2,
        "failed": 2,
        "invalid": 1,
        "skipped": 0,
        "duplicates": 0,
        "blank": 0,
        "not_attempted": 0,
    }


def test_a_result_not_kept_counts_as_not_attempted() -> None:
    stats = Stats()
    for result in (OK, FAILED, INVALID):
        stats.count(result)
    for result in (OK, FAILED, INVALID):
        stats.not_kept(result)
    assert (stats.ok, stats.failed, stats.invalid, stats.not_attempted) == (0, 0, 0, 3)
    assert stats.rows_done() == 0
