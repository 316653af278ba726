"""7. A --rate set too high (issue 13): 150 IDs against the API's 5/s with --rate 10, 50, 200
and 1000, as a new user would run them.

Each run gets its own simulated API (in a thread of the bench, no latency, like `--simulate`)
with the provider's strict rolling window of 5; the four clients run at once, each as its own
process. Ideal wall time: the IDs at 5/s (one start every 1.01/5 s: 30.2 s for 150). Baseline
(before issue 13, 100 IDs with `--simulate`): 13/113, 57/153 and 134/219 429s/requests at 10,
50 and 1000, with 0, 4 and 15 records failed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bench._common import (
    OUT,
    Figure,
    ThreadedSimulator,
    client_env,
    deel_batch,
    run_child,
    uuids,
    write_csv,
)

IDS = 150
LIMIT = 5
RATES = (10, 50, 200, 1000)


def _one(rate: int) -> dict:
    from jobs._simulator import SimulatorConfig

    path = OUT / f"ratehigh-{rate}.csv"
    write_csv(path, uuids(IDS, seed=rate))
    out = OUT / f"ratehigh-{rate}.jsonl"
    out.unlink(missing_ok=True)
    with ThreadedSimulator(SimulatorConfig(rate=LIMIT, seed=rate)) as sim:
        cmd = [
            *deel_batch(), "worker-tokens", str(path), "-o", str(out),
            "--base-url", sim.api.base_url, "--rate", str(rate), "--log-format", "json",
        ]  # fmt: skip
        child = run_child(cmd, env=client_env())
        stats = sim.api.stats
        summary = child.last_event("run_finished") or {}
        return {
            "rate": rate,
            "exit_code": child.rc,
            "ok": summary.get("ok"),
            "failed": summary.get("failed"),
            "requests": summary.get("requests"),
            "rate_limited": summary.get("rate_limited"),
            "settled_rate": summary.get("settled_rate"),
            "wall_s": round(child.wall_s, 2),
            "elapsed_s": summary.get("elapsed_s"),
            "server_window_429": stats.window_429,
            "server_max_in_window": stats.max_in_window,
            "issued_twice": sum(1 for tokens in stats.issued.values() if len(tokens) > 1),
        }


def run() -> tuple[list[Figure], dict]:
    with ThreadPoolExecutor(len(RATES)) as pool:
        runs = list(pool.map(_one, RATES))
    ideal = (IDS - 1) * 1.01 / LIMIT
    figs: list[Figure] = []
    for r in runs:
        share = (r["rate_limited"] or 0) / max(r["requests"] or 1, 1)
        figs += [
            Figure(
                "7",
                f"--rate {r['rate']}, {IDS} IDs vs 5/s: records failed",
                r["failed"] if r["failed"] is not None else -1,
                "",
                "== 0",
                f"exit {r['exit_code']}, {r['ok']} ok, settled at {r['settled_rate']}/s",
            ),
            Figure(
                "7",
                f"--rate {r['rate']}: 429s / requests",
                round(share, 3),
                "",
                None,
                f"{r['rate_limited']} of {r['requests']}",
            ),
            Figure(
                "7",
                f"--rate {r['rate']}: elapsed / ideal ({ideal:.1f} s)",
                round((r["elapsed_s"] or 0) / ideal, 3),
                "x",
                None,
                f"elapsed {r['elapsed_s']} s, process wall {r['wall_s']} s",
            ),
        ]
    return figs, {"runs": runs, "ideal_s": round(ideal, 2)}
