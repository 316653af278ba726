"""5. The pacing plot: requests started per 100 ms, and per rolling second, next to the limit.

Drawn from the server's arrival times of the quota runs (`--rate 5` and `--rate 200`, 50 ms
latency, concurrency 32) into bench/pacing.png.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from bench.quota import QuotaRun

BUCKET = 0.1


def _rolling(arrivals: list[float], step: float = 0.005) -> tuple[list[float], list[int]]:
    """Arrivals in the window (t - 1, t] for t every `step` seconds."""
    end = arrivals[-1] + 1.0
    ts, counts = [], []
    t = 0.0
    while t <= end:
        counts.append(bisect.bisect_right(arrivals, t) - bisect.bisect_right(arrivals, t - 1.0))
        ts.append(t)
        t += step
    return ts, counts


def plot(runs: list[QuotaRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(runs), figsize=(6 * len(runs), 6.4), squeeze=False)
    for col, run in enumerate(runs):
        a = run.arrivals
        nbuckets = int(a[-1] / BUCKET) + 2
        per_bucket = [0] * nbuckets
        for t in a:
            per_bucket[int(t / BUCKET)] += 1
        top, bottom = axes[0][col], axes[1][col]
        top.bar(
            [i * BUCKET for i in range(nbuckets)],
            per_bucket,
            width=BUCKET,
            align="edge",
            color="#4C72B0",
            label="requests started per 100 ms",
        )
        top.axhline(
            run.rate * BUCKET,
            color="#C44E52",
            linestyle="--",
            label=f"limit ÷ 10 = {run.rate * BUCKET:g} per 100 ms (average)",
        )
        top.set_title(
            f"--rate {run.rate:g}: {len(a)} requests, 50 ms latency, concurrency {run.concurrency}"
        )
        top.set_ylabel("requests per 100 ms")
        top.legend(loc="upper right", fontsize=8)
        ts, counts = _rolling(a)
        bottom.plot(ts, counts, color="#4C72B0", linewidth=1.2, label="requests in the last 1 s")
        bottom.axhline(
            run.rate, color="#C44E52", linestyle="--", label=f"limit: {run.rate:g} per rolling 1 s"
        )
        bottom.set_ylim(0, run.rate * 1.25)
        bottom.set_xlabel("seconds since the first request (server clock)")
        bottom.set_ylabel("requests in rolling 1 s")
        bottom.legend(
            loc="lower center",
            fontsize=8,
            title=f"max in any window: {run.max_rolling()} · window 429s: {run.window_429}",
            title_fontsize=8,
        )
        for ax in (top, bottom):
            ax.set_xlim(0, a[-1] + 1.0)
            ax.grid(alpha=0.3)
    fig.suptitle("deel-batch pacing against the simulated Deel API (server-side arrivals)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
