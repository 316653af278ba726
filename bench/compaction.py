"""6. Compaction of results files (issue 12).

a) `deel-batch compact` on a file of 1,000,000 records, half of them superseded (500,000 IDs,
   two ok records each), in its own process: wall time, CPU, peak RSS; the same on 10,000
   records gives the start-up baseline, so (peak - baseline) / IDs is memory per ID.
b) A year of nightly runs on 2,000 IDs, the records generated directly (each night re-issues
   every token, as `--refresh-within` longer than a token's life does): the file after 365
   nights append-only (`--keep-history`) and with the end-of-run compaction (the real
   `maybe_compact`, called as a --resume run does), and the start-up of the 366th night's
   `--resume` run on each (a run with nothing to send: wall time of the whole process,
   median of 3).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from bench._common import MIB, OUT, Child, Figure, client_env, deel_batch, median, run_child, uuids

BIG_IDS = 500_000
SMALL_IDS = 5_000
YEAR_IDS = 2_000
NIGHTS = 365


def _record(pid: str, night: int, expires: str) -> bytes:
    token = uuid.UUID(int=(hash((pid, night)) & ((1 << 128) - 1))).hex
    return (
        f'{{"profile_id": "{pid}", "status": "ok", "token": "wt_{token}", '
        f'"expires_at": "{expires}", "attempts": 1, "line": 2}}\n'
    ).encode()


def _two_nights(path: Path, ids: list[str]) -> None:
    with open(path, "wb") as f:
        for night in (1, 2):
            f.write(b"".join(_record(pid, night, f"2026-12-0{night}T02:15:00.000Z") for pid in ids))


def _compact(path: Path) -> Child:
    cmd = [*deel_batch(), "compact", str(path), "--log-format", "json"]
    return run_child(cmd, env=client_env()).check()


def _year(path: Path, ids: list[str], *, compacting: bool) -> int:
    """365 nights of appends, with or without the end-of-run compaction; how many rewrites."""
    from batch.engine import QuietLogger
    from batch.output import OutputFile, maybe_compact
    from jobs import WORKER_TOKENS

    path.unlink(missing_ok=True)
    rewrites = 0
    for night in range(1, NIGHTS + 1):
        expires = "2099-01-01T00:00:00.000Z" if night == NIGHTS else "2026-01-01T00:00:00.000Z"
        out = OutputFile(str(path), start="resume")
        try:
            out.write(b"".join(_record(pid, night, expires) for pid in ids).decode())
            done = maybe_compact(out, WORKER_TOKENS, enabled=compacting, log=QuietLogger())
            rewrites += done is not None
        finally:
            out.close()
    return rewrites


def _startup(csv: Path, results: Path, *extra: str) -> float:
    walls = []
    for _ in range(3):
        cmd = [*deel_batch(), "worker-tokens", str(csv), "-o", str(results), "--resume",
               "--simulate", "--log-format", "json", "--no-progress", *extra]  # fmt: skip
        child = run_child(cmd, env=client_env()).check()
        summary = child.last_event("run_finished") or {}
        if summary.get("requests") != 0 or summary.get("skipped") != YEAR_IDS:
            raise RuntimeError(f"the last night was not a no-op: {summary}")
        walls.append(child.wall_s)
    return median(walls)


def run() -> tuple[list[Figure], dict[str, object]]:
    OUT.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    details: dict[str, object] = {}

    big = OUT / "compact-1m.jsonl"
    _two_nights(big, uuids(BIG_IDS, seed=61))
    size_before = big.stat().st_size
    small = OUT / "compact-10k.jsonl"
    _two_nights(small, uuids(SMALL_IDS, seed=62))
    base = _compact(small)
    child = _compact(big)
    done = child.last_event("compacted") or {}
    per_id = (child.maxrss_mib - base.maxrss_mib) * MIB / (BIG_IDS - SMALL_IDS)
    details["big"] = {"wall_s": child.wall_s, "cpu_s": child.cpu_s, "rss_mib": child.maxrss_mib,
                      "baseline_rss_mib": base.maxrss_mib, "compacted": done}  # fmt: skip
    figures += [
        Figure("6", "compact 1,000,000 records (50% superseded): wall time", child.wall_s, "s",
               None, f"CPU {child.cpu_s:.1f} s; {size_before / MIB:.0f} MiB → "
               f"{big.stat().st_size / MIB:.0f} MiB, kept {done.get('kept')}, dropped {done.get('dropped')}"),
        Figure("6", "compact 1,000,000 records: peak RSS", child.maxrss_mib, "MiB", None,
               f"10,000 records: {base.maxrss_mib:.1f} MiB"),
        Figure("6", "compact: memory per ID (growth 5k → 500k IDs)", per_id, "B", "<= 200",
               "one entry per ID, the rest streamed"),
    ]  # fmt: skip
    big.unlink()
    small.unlink()

    ids = uuids(YEAR_IDS, seed=63)
    csv = OUT / "year.csv"
    from bench._common import write_csv

    write_csv(csv, ids)
    journal, compacted = OUT / "year-append.jsonl", OUT / "year-compact.jsonl"
    _year(journal, ids, compacting=False)
    rewrites = _year(compacted, ids, compacting=True)
    start_journal = _startup(csv, journal, "--keep-history")
    start_compact = _startup(csv, compacted)
    sizes = {p.name: p.stat().st_size for p in (journal, compacted)}
    details["year"] = {"sizes": sizes, "rewrites": rewrites, "startup_s": {
        "append_only": start_journal, "compacted": start_compact}}  # fmt: skip
    figures += [
        Figure("6", "a year of nightly runs, 2,000 IDs: file size append-only",
               sizes[journal.name] / MIB, "MiB", None, f"{NIGHTS * YEAR_IDS:,} lines"),
        Figure("6", "a year of nightly runs, 2,000 IDs: file size compacted",
               sizes[compacted.name] / MIB, "MiB", None,
               f"{rewrites} rewrites (every other night); 1 to 3 lines per ID"),
        Figure("6", "night 366 --resume run, nothing to send: append-only", start_journal, "s",
               None, "whole process, median of 3"),
        Figure("6", "night 366 --resume run, nothing to send: compacted", start_compact, "s",
               None, "whole process, median of 3"),
    ]  # fmt: skip
    for path in (journal, compacted, csv):
        path.unlink()
    return figures, details
