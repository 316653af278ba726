"""`deel-batch simulate-api`: the new options reach the config, bad values are one-line usage
errors, and one served API shows the whole lifecycle to real runs (mint, revoke, mint)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

import jobs._simulator._cli
from jobs._simulator import SimulatorConfig
from jobs._simulator._cli import simulate_api
from jobs._simulator._config import REJECT_ALL_MESSAGE
from tests.helpers import ENV, read_jsonl, run_cli, write_csv

REPO = Path(__file__).resolve().parents[2]
A = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
B = "00000000-0000-4000-8000-00000000000b"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[SimulatorConfig]:
    """What `simulate-api` would serve, without serving it."""
    configs: list[SimulatorConfig] = []

    async def serve_nothing(config: SimulatorConfig, *_args: object) -> None:
        configs.append(config)

    monkeypatch.setattr(jobs._simulator._cli, "_serve_until_signalled", serve_nothing)
    return configs


def test_the_new_options_reach_the_config(tmp_path: Path, served: list[SimulatorConfig]) -> None:
    ids = tmp_path / "unknown.txt"
    ids.write_text(f"# IDs HR deleted\n\n{A.upper()}\n  {B}  \n")
    args = [
        "--unknown-ids", str(ids), "--unknown", "00000000-0000-4000-8000-00000000000c",
        "--no-prior-tokens", "--reject-all", "--deprecated-since", "2027-01-01",
        "--sunset", "2027-06-30", "--p-mint-then-timeout", "0.1", "--p-mint-then-reset", "0.2",
        "--p-broken-chunked-201", "0.3",
    ]  # fmt: skip
    result = CliRunner().invoke(simulate_api, args)
    assert result.exit_code == 0, result.output
    (config,) = served
    assert config.unknown_profiles == {A, B, "00000000-0000-4000-8000-00000000000c"}
    assert config.tokens_predate is False
    assert config.reject_all == REJECT_ALL_MESSAGE
    assert (config.deprecated_since, config.sunset) == (dt.date(2027, 1, 1), dt.date(2027, 6, 30))
    odds = (config.p_mint_then_timeout, config.p_mint_then_reset, config.p_broken_chunked_201)
    assert odds == (0.1, 0.2, 0.3)


def test_without_options_it_serves_the_default_config(served: list[SimulatorConfig]) -> None:
    assert CliRunner().invoke(simulate_api, []).exit_code == 0
    assert served == [SimulatorConfig()]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("3fa85f64-5717-4562-b3fc-2c963f66afa6\nnope\n", "line 2: 'nope' is not a profile ID"),
        (b"\xff\xfe\xfa", "cannot read"),
    ],
)
def test_a_bad_unknown_ids_file_is_a_usage_error(
    tmp_path: Path, content: str | bytes, error: str
) -> None:
    path = tmp_path / "ids.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = CliRunner().invoke(simulate_api, ["--unknown-ids", str(path)])
    assert result.exit_code == 2
    assert error in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--unknown-ids", "/nonexistent/ids.txt"], "cannot read /nonexistent/ids.txt"),
        (["--deprecated-since", "1 Jan 2027"], "'1 Jan 2027' does not match the format"),
        (["--deprecated-since", "2027-01-01", "--sunset", "2026-12-31"], "--deprecated-since"),
    ],
)
def test_bad_option_values_are_usage_errors(args: list[str], error: str) -> None:
    result = CliRunner().invoke(simulate_api, args)
    assert result.exit_code == 2
    assert error in result.output


# ---- the demo: one served API, real runs against it ----


async def _revoke(base_url: str, ids: list[str]) -> list[int]:
    headers = {"Authorization": "Bearer anything"}
    async with aiohttp.ClientSession() as session:
        statuses = []
        for worker_id in ids:
            async with session.delete(
                f"{base_url}/workers/{worker_id}/session", headers=headers
            ) as r:
                statuses.append(r.status)
        return statuses


@pytest.mark.slow
def test_one_served_api_shows_mint_revoke_mint(tmp_path: Path) -> None:
    ids = [f"00000000-0000-4000-8000-0000000000{n:02d}" for n in range(10)]
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("\n".join(ids[8:]) + "\n")
    code = "from jobs._simulator._cli import simulate_api; simulate_api()"
    args = [sys.executable, "-c", code, "--port", "0", "--rate", "0", "--unknown-ids", str(unknown)]
    with subprocess.Popen(
        args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as process:
        assert process.stderr is not None
        banner = process.stderr.readline().decode()
        match = re.search(r"on (http://127\.0\.0\.1:\d+/rest/v2) ", banner)
        assert match, banner
        base_url = match.group(1)
        src = write_csv(tmp_path / "in.csv", ids)
        out = tmp_path / "tokens.jsonl"
        fast = ("--base-url", base_url, "--rate", "1000", "--log-format", "json", "-o", str(out))
        first = run_cli("worker-tokens", str(src), *fast, env=ENV)
        assert first.exit_code == 1  # the two unknown IDs
        minted = {r["profile_id"]: r["token"] for r in read_jsonl(out) if r["status"] == "ok"}
        assert sorted(minted) == ids[:8]

        assert asyncio.run(_revoke(base_url, ids)) == [200] * 8 + [404] * 2
        assert asyncio.run(_revoke(base_url, ids[:1])) == [404]  # nothing left to end

        again = tmp_path / "again.jsonl"
        second = run_cli("worker-tokens", str(src), *fast[:-1], str(again), env=ENV)
        assert second.exit_code == 1
        reissued = {r["profile_id"]: r["token"] for r in read_jsonl(again) if r["status"] == "ok"}
        assert sorted(reissued) == ids[:8]
        assert not set(reissued.values()) & set(minted.values())

        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=20)
    assert process.returncode == 0
    assert b"31 requests, 16 tokens, 8 revoked, 0 replayed" in rest
