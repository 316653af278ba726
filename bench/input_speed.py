"""3. Input speed and memory: `--dry-run` over generated CSVs (profile_id,name,email), and over
the other shapes HR exports take: a 1M-row `;` CSV (header `Name;Profile ID;Email`), a
1M-element `.json` array and a 200k-row `.xlsx`; plus python-calamine against openpyxl.

Each run is its own process; wall time, CPU and peak RSS come from wait4. Three inputs:
10k distinct IDs, 1M distinct IDs, and 1M rows of one repeated ID. The last one reads, parses
and validates exactly as much as the 1M-distinct run but keeps one ID, so comparing the three
separates what grows with the number of distinct IDs (the de-duplication set) from anything
else that would grow with the file.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bench import spreadsheet_readers
from bench._common import (
    MIB,
    OUT,
    Child,
    Figure,
    big_csv,
    client_env,
    deel_batch,
    median,
    run_child,
    uuids,
)

BIG = int(os.environ.get("BENCH_INPUT_ROWS", "1000000"))
SHEET = int(os.environ.get("BENCH_SHEET_ROWS", "200000"))
SMALL = 10_000
REPEATS = int(os.environ.get("BENCH_INPUT_REPEATS", "3"))


def _dry_run(path) -> Child:
    cmd = [*deel_batch(), "worker-tokens", str(path), "--dry-run", "--log-format", "json"]
    child = run_child(cmd, env=client_env()).check()
    if child.last_event("dry_run") is None:
        raise RuntimeError(f"no dry_run event from {' '.join(cmd)}\n{child.stderr[-2000:]}")
    return child


def _generated(path: Path, write: Callable[[Path], None]) -> Path:
    if not (path.exists() and path.stat().st_size > 0):
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        tmp.replace(path)
    return path


def semicolon_csv(path: Path, rows: int, seed: int) -> Path:
    """An Excel 'CSV (semicolon)' export: Name;Profile ID;Email, CRLF."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write("Name;Profile ID;Email\r\n")
            for i, pid in enumerate(uuids(rows, seed)):
                f.write(f"Worker {i};{pid};worker{i}@example.com\r\n")

    return _generated(path, write)


def json_array(path: Path, rows: int, seed: int) -> Path:
    """A `.json` array of objects, one per line as exporters pretty-print them."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("[\n")
            for i, pid in enumerate(uuids(rows, seed)):
                sep = ",\n" if i else ""
                f.write(f'{sep}  {{"profile_id": "{pid}", "name": "Worker {i}", "n": {i}}}')
            f.write("\n]\n")

    return _generated(path, write)


def _shape(
    label: str, path: Path, rows: int, target: str | None = None
) -> tuple[Figure, Figure, dict]:
    runs = [_dry_run(path) for _ in range(max(1, REPEATS - 1))]
    wall = median([c.wall_s for c in runs])
    rss = max(c.maxrss_kib for c in runs) * 1024 / MIB
    event = runs[0].last_event("dry_run") or {}
    understood = f"{event.get('format')}, {event.get('delimiter') or event.get('sheet') or ''}"
    return (
        Figure("3", f"dry-run {label}: rows/s", rows / wall, "rows/s", target, understood),
        Figure("3", f"dry-run {label}: peak RSS", rss, "MiB", "<= 120" if target else None),
        {
            "wall_s": [round(c.wall_s, 3) for c in runs],
            "maxrss_mib": [round(c.maxrss_mib, 1) for c in runs],
        },
    )


def representation_bytes(count: int = BIG) -> dict[str, float]:
    """Bytes per distinct ID held in a Python set, by representation (tracemalloc)."""
    ids = uuids(count, seed=99)
    out: dict[str, float] = {}
    makers = {
        "str (36 chars)": lambda s: s.upper().lower(),  # a fresh string, as parse_key makes
        "int (128-bit)": lambda s: int(s.replace("-", ""), 16),
        "bytes (16)": lambda s: bytes.fromhex(s.replace("-", "")),
    }
    for name, make in makers.items():
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        seen = {make(s) for s in ids}
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out[name] = (after - before) / len(seen)
        del seen
    return out


def run() -> tuple[list[Figure], dict]:
    big = big_csv(OUT / f"input-{BIG}.csv", BIG, seed=11)
    small = big_csv(OUT / f"input-{SMALL}.csv", SMALL, seed=12)
    same = big_csv(OUT / f"input-{BIG}-same.csv", BIG, seed=13, distinct=False)

    bigs = [_dry_run(big) for _ in range(REPEATS)]
    smalls = [_dry_run(small) for _ in range(REPEATS)]
    sames = [_dry_run(same) for _ in range(max(1, REPEATS - 1))]

    wall = median([c.wall_s for c in bigs])
    cpu = median([c.cpu_s for c in bigs])
    small_wall = median([c.wall_s for c in smalls])
    rss_big = max(c.maxrss_kib for c in bigs) * 1024
    rss_small = max(c.maxrss_kib for c in smalls) * 1024
    rss_same = max(c.maxrss_kib for c in sames) * 1024
    per_id = (rss_big - rss_small) / (BIG - SMALL)
    other_growth = (rss_same - rss_small) / MIB
    rates = representation_bytes()
    b = "3"
    figs = [
        Figure(
            b,
            f"dry-run {BIG:,} rows: rows/s (whole process)",
            BIG / wall,
            "rows/s",
            ">= 300000",
            f"wall {wall:.2f} s, CPU {cpu:.2f} s; net of start-up "
            f"{BIG / max(wall - small_wall, 1e-9):,.0f} rows/s",
        ),
        Figure(b, f"dry-run {BIG:,} rows: peak RSS", rss_big / MIB, "MiB", "<= 120"),
        Figure(
            b,
            f"dry-run {SMALL:,} rows: peak RSS",
            rss_small / MIB,
            "MiB",
            None,
            f"wall {small_wall:.2f} s",
        ),
        Figure(
            b,
            "growth 10k → 1M distinct IDs, per distinct ID",
            per_id,
            "B",
            "<= 80",
            "Python set of 36-char str: "
            f"{rates['str (36 chars)']:.0f} B/ID; of 128-bit int: {rates['int (128-bit)']:.0f} B/ID",
        ),
        Figure(
            b,
            f"growth 10k → {BIG:,} rows of one repeated ID",
            other_growth,
            "MiB",
            None,
            "everything but the de-duplication set: does not grow",
        ),
    ]
    semi = semicolon_csv(OUT / f"input-{BIG}-semicolon.csv", BIG, seed=14)
    array = json_array(OUT / f"input-{BIG}.json", BIG, seed=15)
    sheet = spreadsheet_readers.big_xlsx(OUT / f"sheet-{SHEET}.xlsx", SHEET, seed=21)
    shapes: dict[str, dict] = {}
    for label, path, rows, target in (
        (f"{BIG:,}-row ';' CSV", semi, BIG, ">= 200000"),
        (f"{BIG:,}-element .json array", array, BIG, None),
        (f"{SHEET:,}-row .xlsx", sheet, SHEET, None),
    ):
        rate_fig, rss_fig, shapes[label] = _shape(label, path, rows, target)
        figs += [rate_fig, rss_fig]
    reader_figs, readers = spreadsheet_readers.run()
    figs += reader_figs
    details = {
        "shapes": shapes,
        "spreadsheet_readers": readers,
        "rows": BIG,
        "repeats": REPEATS,
        "big_wall_s": [round(c.wall_s, 3) for c in bigs],
        "big_cpu_s": [round(c.cpu_s, 3) for c in bigs],
        "big_maxrss_mib": [round(c.maxrss_mib, 1) for c in bigs],
        "small_wall_s": [round(c.wall_s, 3) for c in smalls],
        "small_maxrss_mib": [round(c.maxrss_mib, 1) for c in smalls],
        "same_id_wall_s": [round(c.wall_s, 3) for c in sames],
        "same_id_maxrss_mib": [round(c.maxrss_mib, 1) for c in sames],
        "bytes_per_distinct_id": round(per_id, 1),
        "set_bytes_per_id_by_representation": {k: round(v, 1) for k, v in rates.items()},
        "dry_run_event": bigs[0].last_event("dry_run"),
    }
    return figs, details
