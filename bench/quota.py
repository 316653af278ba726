"""2. Quota fidelity (and the runs behind 5., the pacing plot).

The simulated API runs in a thread of the bench (so its stats can be read) with the provider's
rolling 1-second window at `--rate`, 50 ms latency; deel-batch runs as its own process with the
same `--rate`. Achieved rate is measured where the quota is spent, at the server: requests
arriving per second in steady state (from the first arrival + 1 s to the last arrival - 1 s,
i.e. without the first and the last partial second, counted in whole blocks of `rate`
arrivals), against the limit.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path

from bench._common import (
    OUT,
    Child,
    Figure,
    ThreadedSimulator,
    client_env,
    deel_batch,
    run_child,
    uuids,
    write_csv,
)

LATENCY = 0.05
CONCURRENCY = int(os.environ.get("BENCH_QUOTA_CONCURRENCY", "32"))


@dataclass
class QuotaRun:
    rate: float
    ids: int
    p_429: float
    concurrency: int
    arrivals: list[float]  # seconds since the first arrival
    window_429: int
    injected_429: int
    max_in_window: int
    created: int
    child: Child
    summary: dict

    @property
    def steady_rate(self) -> float:
        """Arrivals per second in steady state: from the first arrival at or after 1 s, over a
        whole number of `rate`-sized blocks of arrivals that end before the last second.

        Counting whole blocks matters: a sliding-log pacer sends a window's worth, then waits
        for the oldest start to leave the window, so a fixed time slice that cuts a block in
        two over- or under-counts by up to one block.
        """
        a = self.arrivals
        block = max(1, int(self.rate))
        i = bisect.bisect_left(a, 1.0)
        end = bisect.bisect_right(a, a[-1] - 1.0)
        blocks = (end - 1 - i) // block
        if blocks < 1:
            return float("nan")
        j = i + blocks * block
        return (j - i) / (a[j] - a[i])

    @property
    def steady_created_rate(self) -> float:
        """Arrivals that were not refused, per second, steady state (goodput)."""
        return self.steady_rate * self.created / max(len(self.arrivals), 1)

    @property
    def overall_rate(self) -> float:
        """run_finished requests / elapsed_s (includes the first second's full window)."""
        return self.summary.get("requests", 0) / max(self.summary.get("elapsed_s", 0) or 1e-9, 1e-9)

    def max_rolling(self) -> int:
        """Most arrivals in any rolling 1-second window (half-open), all arrivals counted."""
        a, best, j = self.arrivals, 0, 0
        for i, t in enumerate(a):
            while a[j] <= t - 1.0:
                j += 1
            best = max(best, i - j + 1)
        return best


def quota_run(
    rate: float, ids: int, p_429: float, *, concurrency: int = CONCURRENCY, seed: int = 3
) -> QuotaRun:
    from jobs._simulator import SimulatorConfig

    path = OUT / f"quota-{ids}.csv"
    write_csv(path, uuids(ids, seed=seed))
    out = OUT / f"quota-{rate:g}-{p_429:g}.jsonl"
    out.unlink(missing_ok=True)
    config = SimulatorConfig(rate=rate, latency=LATENCY, p_429=p_429, seed=seed)
    with ThreadedSimulator(config) as sim:
        cmd = [
            *deel_batch(),
            "worker-tokens",
            str(path),
            "-o",
            str(out),
            "--base-url",
            sim.api.base_url,
            "--rate",
            f"{rate:g}",
            "--concurrency",
            str(concurrency),
            "--log-format",
            "json",
        ]
        child = run_child(cmd, env=client_env()).check((0, 1))
        stats = sim.api.stats
        arrivals = list(stats.arrivals)
        return QuotaRun(
            rate=rate,
            ids=ids,
            p_429=p_429,
            concurrency=concurrency,
            arrivals=[t - arrivals[0] for t in arrivals],
            window_429=stats.window_429,
            injected_429=stats.injected.get("429", 0),
            max_in_window=stats.max_in_window,
            created=stats.created,
            child=child,
            summary=child.last_event("run_finished") or {},
        )


def _describe(run: QuotaRun) -> dict:
    return {
        "rate": run.rate,
        "ids": run.ids,
        "p_429": run.p_429,
        "concurrency": run.concurrency,
        "latency_s": LATENCY,
        "server_requests": len(run.arrivals),
        "server_created": run.created,
        "window_429": run.window_429,
        "injected_429": run.injected_429,
        "max_in_window": run.max_in_window,
        "max_arrivals_in_rolling_1s": run.max_rolling(),
        "steady_arrivals_per_s": round(run.steady_rate, 2),
        "steady_created_per_s": round(run.steady_created_rate, 2),
        "run_finished": run.summary,
        "requests_per_elapsed_s": round(run.overall_rate, 2),
        "client_cpu_s": round(run.child.cpu_s, 3),
        "client_maxrss_mib": round(run.child.maxrss_mib, 1),
        "exit_code": run.child.rc,
    }


def run(default_concurrency_too: bool = True) -> tuple[list[Figure], dict, dict[str, QuotaRun]]:
    clean = quota_run(200, 2000, 0.0)
    noisy = quota_run(200, 2000, 0.05)
    b = "2"
    figs = [
        Figure(
            b,
            "rate 200, 50 ms: achieved/limit (server, steady)",
            clean.steady_rate / 200,
            "",
            ">= 0.98",
            f"{clean.steady_rate:.1f} req/s; requests/elapsed_s {clean.overall_rate:.1f}",
        ),
        Figure(
            b,
            "rate 200, 50 ms: window 429s",
            clean.window_429,
            "",
            "== 0",
            f"max in a server window {clean.max_in_window}/200",
        ),
        Figure(
            b,
            "rate 200 + 5% spurious 429s: achieved/limit (server, steady)",
            noisy.steady_rate / 200,
            "",
            ">= 0.8",
            f"{noisy.steady_rate:.1f} req/s, {noisy.injected_429} spurious 429s; "
            f"tokens {noisy.steady_created_rate:.1f}/s",
        ),
        Figure(
            b,
            "rate 200 + 5% spurious 429s: window 429s",
            noisy.window_429,
            "",
            "== 0",
            f"max in a server window {noisy.max_in_window}/200",
        ),
    ]
    details = {"clean": _describe(clean), "spurious_429": _describe(noisy)}
    runs = {"rate200": clean}
    if default_concurrency_too:
        default = quota_run(200, 2000, 0.0, concurrency=8)
        details["default_concurrency_8"] = _describe(default)
        figs.append(
            Figure(
                b,
                "context: rate 200, 50 ms, default --concurrency 8: achieved/limit",
                default.steady_rate / 200,
                "",
                None,
                "8 in flight x 20 per second at 50 ms = 160/s at most",
            )
        )
    return figs, details, runs


def run_rate5(seconds: float = 10.0) -> QuotaRun:
    return quota_run(5, int(5 * seconds), 0.0, seed=5)


def write_arrivals(path: Path, runs: dict[str, QuotaRun]) -> None:
    with open(path, "w") as f:
        for name, r in runs.items():
            f.write(f"# {name} rate={r.rate:g}\n")
            f.writelines(f"{t:.6f}\n" for t in r.arrivals)
