"""1. Engine overhead: N IDs against the simulated API (no latency, no limit), concurrency 32.

deel-batch vs (a) the leanest aiohttp loop and (b) requests + a 32-thread pool. Each client
runs as its own process against a fresh `deel-batch simulate-api` process, in alternating
order, several rounds; wall time, CPU time (user+sys of the client alone, from wait4) and peak
RSS are taken per run and the medians compared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench._common import (
    BENCH,
    OUT,
    PYTHON,
    Child,
    Figure,
    SimulatorProcess,
    client_env,
    deel_batch,
    median,
    run_child,
    uuids,
    write_csv,
)

N = int(os.environ.get("BENCH_OVERHEAD_N", "5000"))
ROUNDS = int(os.environ.get("BENCH_OVERHEAD_ROUNDS", "5"))
CONCURRENCY = 32
NO_LIMIT_RATE = "1000000"  # deel-batch has no "no limit": --rate 1e6 never waits here


def _command(client: str, base_url: str, path: Path, out: Path) -> list[str]:
    if client == "deel-batch":
        return [
            *deel_batch(),
            "worker-tokens",
            str(path),
            "-o",
            str(out),
            "--base-url",
            base_url,
            "--rate",
            NO_LIMIT_RATE,
            "--concurrency",
            str(CONCURRENCY),
            "--max-attempts",
            "1",
            "--log-level",
            "warning",
            "--log-format",
            "json",
        ]
    script = {"lean aiohttp": "lean_aiohttp.py", "requests+threads": "requests_pool.py"}[client]
    return [
        PYTHON,
        str(BENCH / "clients" / script),
        base_url,
        str(path),
        str(out),
        str(CONCURRENCY),
    ]


def _ok_lines(out: Path) -> int:
    ok = 0
    with open(out) as f:
        for line in f:
            record = json.loads(line)
            ok += record.get("status") in ("ok", 201)
    return ok


def _run(client: str, path: Path, expected: int) -> Child:
    out = OUT / f"overhead-{client.replace(' ', '_').replace('+', '_')}.jsonl"
    out.unlink(missing_ok=True)
    with SimulatorProcess("--rate", "0", "--latency", "0") as sim:
        child = run_child(_command(client, sim.base_url, path, out), env=client_env()).check()
    ok = _ok_lines(out)
    if ok != expected:
        raise RuntimeError(f"{client}: {ok} ok records of {expected}\n{child.stderr[-2000:]}")
    return child


CLIENTS = ("deel-batch", "lean aiohttp", "requests+threads")


def run() -> tuple[list[Figure], dict]:
    path = OUT / f"overhead-{N}.csv"
    write_csv(path, uuids(N, seed=1))
    tiny = OUT / "overhead-1.csv"
    write_csv(tiny, uuids(1, seed=2))

    runs: dict[str, list[Child]] = {c: [] for c in CLIENTS}
    for r in range(ROUNDS):
        order = CLIENTS[r % 3 :] + CLIENTS[: r % 3]
        for client in order:
            runs[client].append(_run(client, path, N))
    # Start-up cost (imports, session, one request): a 1-ID input, 3 runs each.
    startup: dict[str, list[Child]] = {c: [] for c in CLIENTS}
    for _ in range(3):
        for client in CLIENTS:
            startup[client].append(_run(client, tiny, 1))

    med = {
        c: {
            "wall_s": median([x.wall_s for x in runs[c]]),
            "cpu_s": median([x.cpu_s for x in runs[c]]),
            "maxrss_mib": median([x.maxrss_mib for x in runs[c]]),
            "startup_wall_s": median([x.wall_s for x in startup[c]]),
            "startup_cpu_s": median([x.cpu_s for x in startup[c]]),
            "runs_wall_s": [round(x.wall_s, 3) for x in runs[c]],
            "runs_cpu_s": [round(x.cpu_s, 3) for x in runs[c]],
        }
        for c in CLIENTS
    }
    for c in CLIENTS:
        m = med[c]
        m["per_request_cpu_us"] = (m["cpu_s"] - m["startup_cpu_s"]) / (N - 1) * 1e6
        m["requests_per_s"] = N / m["wall_s"]

    db, lean, req = med["deel-batch"], med["lean aiohttp"], med["requests+threads"]
    b = "1"
    figures = [
        Figure(
            b,
            "deel-batch wall time",
            db["wall_s"],
            "s",
            None,
            f"{N} IDs, {db['requests_per_s']:.0f} req/s",
        ),
        Figure(
            b,
            "lean aiohttp wall time",
            lean["wall_s"],
            "s",
            None,
            f"{lean['requests_per_s']:.0f} req/s",
        ),
        Figure(
            b,
            "requests+32 threads wall time",
            req["wall_s"],
            "s",
            None,
            f"{req['requests_per_s']:.0f} req/s",
        ),
        Figure(b, "deel-batch / lean loop, wall", db["wall_s"] / lean["wall_s"], "x", "<= 1.2"),
        Figure(
            b,
            "deel-batch / lean loop, CPU",
            db["cpu_s"] / lean["cpu_s"],
            "x",
            "<= 1.2",
            f"CPU {db['cpu_s']:.2f} s vs {lean['cpu_s']:.2f} s",
        ),
        Figure(b, "thread pool / deel-batch, wall", req["wall_s"] / db["wall_s"], "x", ">= 3"),
        Figure(
            b,
            "thread pool / deel-batch, CPU",
            req["cpu_s"] / db["cpu_s"],
            "x",
            ">= 3",
            f"CPU {req['cpu_s']:.2f} s vs {db['cpu_s']:.2f} s",
        ),
        Figure(
            b,
            "CPU per request, net of start-up: deel-batch",
            db["per_request_cpu_us"],
            "µs",
            None,
            f"lean {lean['per_request_cpu_us']:.0f} µs, thread pool {req['per_request_cpu_us']:.0f} µs",
        ),
        Figure(
            b,
            "start-up (1 ID) CPU: deel-batch",
            db["startup_cpu_s"],
            "s",
            None,
            f"lean {lean['startup_cpu_s']:.2f} s, thread pool {req['startup_cpu_s']:.2f} s",
        ),
        Figure(
            b,
            "peak RSS: deel-batch",
            db["maxrss_mib"],
            "MiB",
            None,
            f"lean {lean['maxrss_mib']:.0f} MiB, thread pool {req['maxrss_mib']:.0f} MiB",
        ),
    ]
    details = {
        "n": N,
        "rounds": ROUNDS,
        "concurrency": CONCURRENCY,
        "rate_flag": NO_LIMIT_RATE,
        "clients": med,
    }
    return figures, details
