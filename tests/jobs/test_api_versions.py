"""The API version is pinned and watched: every request sends `X-Version`; a deprecation
announced in the answers' headers is warned about once, summed up, and put in the metrics;
a version the API does not serve stops the run and names the option."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from jobs._simulator._versions import PublishedVersion
from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--log-format", "json")
TWO = {"2026-01-01": PublishedVersion("stable"), "2027-01-01": PublishedVersion("stable")}


def _run(api_url: str, src: Path, out: Path, *extra: str, env: dict[str, str] = ENV):  # type: ignore[no-untyped-def]
    return run_cli(
        "worker-tokens", str(src), "-o", str(out), "--base-url", api_url, *FAST, *extra, env=env
    )


def test_every_request_pins_the_version_the_job_is_written_against(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, plan={})
    ids = new_ids(4)
    res = _run(api.base_url, write_csv(tmp_path / "in.csv", ids), tmp_path / "out.jsonl")
    assert res.exit_code == 0, res.stderr
    assert api.stats.versions_seen == {"2026-01-01": 4}
    finished = res.event("run_finished")
    assert finished["api_version"] == "2026-01-01"
    assert "api_deprecated" not in finished
    assert "api_version_deprecated" not in res.names()


@pytest.mark.parametrize("how", ["option", "env"])
def test_another_version_by_option_or_environment(sim: StartSim, tmp_path: Path, how: str) -> None:
    api = sim(rate=None, versions=TWO)
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    if how == "option":
        res = _run(api.base_url, src, tmp_path / "out.jsonl", "--api-version", "2027-01-01")
    else:
        env = {**ENV, "DEEL_API_VERSION": "2027-01-01"}
        res = _run(api.base_url, src, tmp_path / "out.jsonl", env=env)
    assert res.exit_code == 0, res.stderr
    assert api.stats.versions_seen == {"2027-01-01": 2}


@pytest.mark.parametrize("value", ["2026-1-1", "latest", "2026-02-30"])
def test_a_version_that_is_not_a_date_is_a_usage_error(tmp_path: Path, value: str) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1))
    res = run_cli("worker-tokens", str(src), "--simulate", "--api-version", value, *FAST)
    assert res.exit_code == 2
    assert "--api-version" in res.stderr
    assert "YYYY-MM-DD" in res.stderr


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_bad_version_is_blamed_on_where_it_came_from(tmp_path: Path, how: str) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(1))
    args = ("worker-tokens", str(src), "--simulate", *FAST)
    if how == "option":
        res = run_cli(
            *args, "--api-version", "latest", env={**ENV, "DEEL_API_VERSION": "2026-01-01"}
        )
    else:
        res = run_cli(*args, env={**ENV, "DEEL_API_VERSION": "latest"})
    assert res.exit_code == 2
    named = "'latest' (from DEEL_API_VERSION) is not" if how == "env" else "'latest' is not"
    assert named in res.stderr


def test_a_version_the_api_does_not_serve_stops_the_run_and_names_the_option(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(30)
    out = tmp_path / "out.jsonl"
    res = _run(
        api.base_url, write_csv(tmp_path / "in.csv", ids), out, "--api-version", "2025-01-01",
        "--concurrency", "1",
    )  # fmt: skip
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert "does not match any published version" in reason
    assert "--api-version (or DEEL_API_VERSION; this run asked for 2025-01-01)" in reason
    assert api.stats.requests == 1  # the first refusal stops the run: all would be refused
    finished = res.event("run_finished")
    assert finished["not_attempted"] == 30
    assert "resume" in finished
    assert read_jsonl(out) == []  # nothing about any ID: the next run does them all


def test_a_deprecation_in_the_headers_is_warned_once_summed_up_and_measured(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, deprecated_since=dt.date(2027, 1, 1))
    metrics = tmp_path / "deel.prom"
    res = _run(
        api.base_url, write_csv(tmp_path / "in.csv", new_ids(5)), tmp_path / "out.jsonl",
        "--metrics-file", str(metrics),
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr  # it still works: warned, not stopped
    warnings = [e for e in res.events if e["event"] == "api_version_deprecated"]
    assert len(warnings) == 1
    (warning,) = warnings
    assert warning["level"] == "warning"
    assert (warning["api_version"], warning["deprecated_since"], warning["sunset"]) == (
        "2026-01-01", "2027-01-01", "2028-01-01",
    )  # fmt: skip
    assert "--api-version" in warning["message"]
    finished = res.event("run_finished")
    assert finished["api_deprecated"] is True
    assert finished["api_sunset"] == "2028-01-01"
    text = metrics.read_text()
    assert 'deel_batch_api_version_deprecated{version="2026-01-01"} 1.0' in text
    sunset = re.search(r'^deel_batch_api_version_sunset_timestamp_seconds\{version="2026-01-01"\} (\S+)$', text, re.M)  # fmt: skip
    assert sunset is not None
    assert float(sunset.group(1)) == dt.datetime(2028, 1, 1, tzinfo=dt.UTC).timestamp()


def test_the_summary_and_quiet_line_name_the_version_and_the_sunset(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, deprecated_since=dt.date(2027, 1, 1))
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    common = ("--base-url", api.base_url, "--rate", "1000", "--log-format", "console")
    res = run_cli("worker-tokens", str(src), "-o", str(tmp_path / "a.jsonl"), *common, env=ENV)
    assert res.exit_code == 0, res.stderr
    assert (
        "API version 2026-01-01 is deprecated since 2027-01-01; it stops working on 2028-01-01"
        in res.stderr
    )
    quiet = run_cli(
        "worker-tokens", str(src), "-o", str(tmp_path / "b.jsonl"), *common, "--quiet", env=ENV
    )
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, quiet.stderr
    assert lines[0].endswith("; API version 2026-01-01 deprecated, sunset 2028-01-01")


def test_a_run_that_hears_no_answer_keeps_the_last_known_sunset(
    sim: StartSim, tmp_path: Path
) -> None:
    # Every ID already ok: no request, no header. The alert must not go quiet for it.
    api = sim(rate=None, deprecated_since=dt.date(2027, 1, 1))
    src, out = write_csv(tmp_path / "in.csv", new_ids(2)), tmp_path / "out.jsonl"
    metrics = tmp_path / "deel.prom"
    assert _run(api.base_url, src, out, "--metrics-file", str(metrics)).exit_code == 0
    res = _run(api.base_url, src, out, "--resume", "--metrics-file", str(metrics))
    assert res.exit_code == 0, res.stderr
    assert res.event("run_finished")["requests"] == 0
    assert 'deel_batch_api_version_deprecated{version="2026-01-01"} 1.0' in metrics.read_text()
    assert "deel_batch_api_version_sunset_timestamp_seconds{" in metrics.read_text()


def test_revoke_tokens_pins_the_version_too_and_names_the_option_when_refused(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, versions=TWO)
    ids = new_ids(3)
    tokens = tmp_path / "tokens.jsonl"
    minted = _run(api.base_url, write_csv(tmp_path / "in.csv", ids), tokens)
    assert minted.exit_code == 0, minted.stderr

    def revoke(out: str, version: str):  # type: ignore[no-untyped-def]
        return run_cli(
            "revoke-tokens", str(tokens), "-o", str(tmp_path / out), "--yes",
            "--base-url", api.base_url, "--api-version", version, *FAST, env=ENV,
        )  # fmt: skip

    refused = revoke("refused.jsonl", "2025-01-01")
    assert refused.exit_code == 3
    assert "check --api-version" in refused.event("run_aborted")["reason"]
    revoked = revoke("revoked.jsonl", "2027-01-01")
    assert revoked.exit_code == 0, revoked.stderr
    seen = api.stats.versions_seen
    assert (seen["2026-01-01"], seen["2027-01-01"]) == (3, 3)  # minted, revoked
    assert 1 <= seen["2025-01-01"] <= 3  # refused: those in flight at the first refusal
    assert revoked.event("run_finished")["api_version"] == "2027-01-01"
