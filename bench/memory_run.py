"""4. Memory during a real run: 10k and 100k IDs through the simulated API (own process, no
latency, no limit) at `--rate 10000`, concurrency 32; peak RSS of the client (wait4).

What may grow with the file is the de-duplication set; `--dry-run` over the same two files
keeps exactly that set and nothing else (bench 3), so the real run's growth minus the dry
run's growth is what the run itself keeps per record.
"""

from __future__ import annotations

import os

from bench._common import (
    MIB,
    OUT,
    Child,
    Figure,
    SimulatorProcess,
    client_env,
    deel_batch,
    run_child,
    uuids,
    write_csv,
)

BIG = int(os.environ.get("BENCH_MEMORY_IDS", "100000"))
SMALL = 10_000
RATE = "10000"
CONCURRENCY = 32


def _run(n: int) -> Child:
    path = OUT / f"memory-{n}.csv"
    if not path.exists():
        write_csv(path, uuids(n, seed=21))
    out = OUT / f"memory-{n}.jsonl"
    out.unlink(missing_ok=True)
    with SimulatorProcess("--rate", "0", "--latency", "0") as sim:
        cmd = [
            *deel_batch(),
            "worker-tokens",
            str(path),
            "-o",
            str(out),
            "--base-url",
            sim.base_url,
            "--rate",
            RATE,
            "--concurrency",
            str(CONCURRENCY),
            "--log-format",
            "json",
        ]
        child = run_child(cmd, env=client_env()).check()
    summary = child.last_event("run_finished") or {}
    if summary.get("ok") != n:
        raise RuntimeError(f"{n} IDs: run_finished says {summary}\n{child.stderr[-2000:]}")
    out.unlink()
    return child


def _dry(n: int) -> Child:
    cmd = [
        *deel_batch(),
        "worker-tokens",
        str(OUT / f"memory-{n}.csv"),
        "--dry-run",
        "--log-format",
        "json",
    ]
    return run_child(cmd, env=client_env()).check()


def run() -> tuple[list[Figure], dict]:
    small = _run(SMALL)
    big = _run(BIG)
    dry_small, dry_big = _dry(SMALL), _dry(BIG)
    growth = (big.maxrss_kib - small.maxrss_kib) * 1024
    dry_growth = (dry_big.maxrss_kib - dry_small.maxrss_kib) * 1024
    n = BIG - SMALL
    excess = (growth - dry_growth) / MIB
    b = "4"
    figs = [
        Figure(
            b,
            f"real run, {BIG:,} IDs: peak RSS",
            big.maxrss_mib,
            "MiB",
            None,
            f"{BIG / big.wall_s:,.0f} req/s, CPU {big.cpu_s:.1f} s; {SMALL:,} IDs: {small.maxrss_mib:.1f} MiB",
        ),
        Figure(
            b,
            f"real run, growth {SMALL // 1000}k → {BIG // 1000}k IDs, per ID",
            growth / n,
            "B",
            None,
            f"--dry-run of the same files (the de-duplication set): {dry_growth / n:.0f} B/ID",
        ),
        Figure(
            b,
            "real run, growth beyond the de-duplication set",
            excess,
            "MiB",
            "<= 2",
            f"{excess * MIB / n:.0f} B/ID; 2 MiB allows for allocator noise",
        ),
    ]
    details = {
        "ids": BIG,
        "rate_flag": RATE,
        "concurrency": CONCURRENCY,
        "small_maxrss_mib": round(small.maxrss_mib, 1),
        "big_maxrss_mib": round(big.maxrss_mib, 1),
        "dry_small_maxrss_mib": round(dry_small.maxrss_mib, 1),
        "dry_big_maxrss_mib": round(dry_big.maxrss_mib, 1),
        "big_wall_s": round(big.wall_s, 2),
        "big_cpu_s": round(big.cpu_s, 2),
        "growth_bytes_per_id": round(growth / n, 1),
        "dry_growth_bytes_per_id": round(dry_growth / n, 1),
        "growth_beyond_dedup_mib": round(excess, 2),
        "run_finished": big.last_event("run_finished"),
    }
    return figs, details
