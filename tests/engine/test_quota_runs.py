"""Overlapping runs share the organization's quota: real processes against one strict window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from jobs import organization_quota
from jobs._library import open_worker_tokens
from jobs._simulator import serve
from tests.conftest import RedisServer, StartSim
from tests.helpers import ENV, job_args, new_ids, read_jsonl, run_cli, write_csv


def start_runs(
    tmp_path: Path,
    base_url: str,
    count: int,
    ids: int,
    *extra: str,
    jobs: tuple[str, ...] = ("worker-tokens",),
) -> list[tuple[subprocess.Popen[str], Path]]:
    """``count`` runs of ``ids`` new IDs each, the jobs taken in turn from ``jobs``."""
    tmp_path.mkdir(exist_ok=True)
    env = {**os.environ, **ENV, "XDG_RUNTIME_DIR": str(tmp_path)}
    runs = []
    for n in range(count):
        job = jobs[n % len(jobs)]
        src = write_csv(tmp_path / f"in{n}.csv", new_ids(ids))
        out = tmp_path / f"out{n}.jsonl"
        proc = subprocess.Popen(
            [sys.executable, "-m", "batch", job, str(src), "-o", str(out), *job_args(job),
             "--base-url", base_url, "--log-format", "json", "--no-progress", *extra],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        runs.append((proc, out))
    return runs


def finish(runs: list[tuple[subprocess.Popen[str], Path]], ids: int) -> list[dict[str, Any]]:
    summaries = []
    for proc, out in runs:
        _, stderr = proc.communicate(timeout=100)
        assert proc.returncode == 0, stderr[-2000:]
        assert len(read_jsonl(out)) == ids
        events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        summaries.append(next(e for e in events if e["event"] == "run_finished"))
    return summaries


def check_shared(api: Any, summaries: list[dict[str, Any]], total: int, store: str) -> None:
    stats = api.stats
    assert stats.created == total  # every ID ok exactly once
    assert all(len(tokens) == 1 for tokens in stats.issued.values())
    assert stats.max_in_window == 5
    # Without sharing: 14% refused. The bench measures <= 1% on this machine; a
    # test on a loaded CI host allows 3% (a process descheduled between its claim and its
    # send for more than the 40 ms guard lets one through).
    assert stats.window_429 <= total * 3 // 100
    # Together as fast as one run of both files: steady rate over the arrivals.
    arrivals = sorted(stats.arrivals)
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert achieved >= 0.95 * 5 / 1.01
    assert {s["quota_store"] for s in summaries} == {store}
    assert sum(s["waited_on_others"] for s in summaries) > 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_runs_on_one_host_share_the_window(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=5)
    runs = start_runs(tmp_path, api.base_url, 2, 50)
    check_shared(api, finish(runs, 50), 100, "local")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_revocation_and_a_refresh_share_the_organization_s_window(
    sim: StartSim, tmp_path: Path
) -> None:
    """Revoking while a nightly refresh runs: the two jobs' runs are one organization's
    requests (the quota's key is the base URL and the token, not the job): no 429 storm."""
    api = sim(rate=5)
    runs = start_runs(tmp_path, api.base_url, 2, 50, jobs=("worker-tokens", "revoke-tokens"))
    summaries = finish(runs, 50)
    stats = api.stats
    assert stats.created == 50  # the refresh: every ID once
    assert stats.revocations == 50  # the revocation: every ID once
    assert stats.max_in_window == 5
    assert stats.window_429 <= 100 * 3 // 100  # as for two runs of one job (check_shared)
    assert {s["quota_store"] for s in summaries} == {"local"}
    assert sum(s["waited_on_others"] for s in summaries) > 0
    arrivals = sorted(stats.arrivals)
    assert (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) >= 0.95 * 5 / 1.01


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_runs_share_the_window_through_redis(
    sim: StartSim, tmp_path: Path, redis_url: str
) -> None:
    api = sim(rate=5)
    # Two working directories, two runtime dirs: only Redis is in common.
    one = start_runs(tmp_path / "a", api.base_url, 1, 50, "--quota-store", redis_url)
    two = start_runs(tmp_path / "b", api.base_url, 1, 50, "--quota-store", redis_url)
    check_shared(api, finish(one + two, 50), 100, redis_url)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_without_sharing_overlapping_runs_get_429s(sim: StartSim, tmp_path: Path) -> None:
    # The baseline the shared quota removes: each run paces itself alone.
    api = sim(rate=5)
    finish(start_runs(tmp_path, api.base_url, 2, 25, "--quota-store", "none"), 25)
    assert api.stats.window_429 > 0


@pytest.mark.anyio
async def test_redis_lost_mid_run_warns_once_goes_on_and_comes_back(
    redis_server: RedisServer,
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    class Log:
        def __getattr__(self, level: str) -> Any:
            return lambda event, **fields: events.append((event, fields))

    ids = new_ids(40)
    async with serve() as api:
        api.config.rate = None
        async with open_worker_tokens(
            ids, token="t", base_url=api.base_url, rate=5, quota=redis_server.url, logger=Log()
        ) as results:
            got = []
            async for result in results:
                got.append(result)
                if len(got) == 5:
                    await anyio.to_thread.run_sync(redis_server.stop)
                if len(got) == 10:  # the run tries the store again 5 s after it failed
                    await anyio.to_thread.run_sync(redis_server.start)
    assert all(r.ok for r in got)
    assert len(got) == 40
    names = [name for name, _ in events if name.startswith("quota_store")]
    assert names == ["quota_store_unavailable", "quota_store_back"]
    assert results.stats.quota_store == redis_server.url


@pytest.mark.anyio
async def test_a_scripts_own_calls_draw_from_the_runs_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    async with serve() as api:
        api.config.rate = 5
        async with organization_quota(token="t", base_url=api.base_url) as quota:
            for _ in range(5):  # the script's own five calls fill this second
                async with quota.slot():
                    pass
            async with open_worker_tokens(
                new_ids(3), token="t", base_url=api.base_url, rate=5
            ) as results:
                got = [r async for r in results]
    assert all(r.ok for r in got)
    assert api.stats.window_429 == 0
    # Each of the three starts waited for the script's five to leave the window.
    assert results.stats.waited_on_others == 3


def test_dry_run_says_whether_the_quota_is_shared(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    env = {**ENV, "XDG_RUNTIME_DIR": str(tmp_path)}
    shared = run_cli("worker-tokens", str(src), "--dry-run", "--log-format", "console", env=env)
    assert "quota:          shared (local), 0 run(s) using it now" in shared.stderr
    alone = run_cli(
        "worker-tokens", str(src), "--dry-run", "--quota-store", "none", "--log-format", "console",
        env=env,
    )  # fmt: skip
    assert "not shared (--quota-store none)" in alone.stderr
    event = run_cli("worker-tokens", str(src), "--dry-run", env=env).event("dry_run")
    assert (event["quota_store"], event["quota_runs"]) == ("local", 0)


def test_the_summary_says_how_many_starts_waited_for_other_runs(
    sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    api = sim(rate=5)

    async def another_run_fills_the_window() -> None:
        async with organization_quota(token=ENV["DEEL_API_TOKEN"], base_url=api.base_url) as q:
            for _ in range(5):
                async with q.slot():
                    pass

    anyio.run(another_run_fills_the_window)
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    res = run_cli(
        "worker-tokens", str(src), "-o", str(tmp_path / "out.jsonl"), "--base-url", api.base_url,
        "--log-format", "console", "--no-progress", env={**ENV, "XDG_RUNTIME_DIR": str(tmp_path)},
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "quota shared with other runs (local): 2 starts waited for them" in res.stderr
    assert api.stats.window_429 == 0
