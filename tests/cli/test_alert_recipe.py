"""The alert recipe of docs/nightly.md, evaluated for real: Prometheus's own ``promtool``
runs the exact rules of the page against the metrics files of real runs on the simulated
API — a good night, a night with a permanent bad row, an aborted night.

promtool's clock starts at 0 (the Unix epoch) and a unit test cannot start it elsewhere,
so every time-valued metric (``*_timestamp_seconds``) of a night is shifted by the same
amount, which puts the end of that night's run at test time 0; what the rules compare
(``time()`` minus a timestamp) is unchanged by it. Each night is then exposed as
node_exporter exposes a textfile, every minute, and the alerts are checked 2 h and 26.5 h
after the run (a night, and a night and a day, with no run since).

promtool comes from Debian's prometheus package (``make .venv/tools/promtool``); without
it the test is skipped, except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, run_cli, write_csv

ROOT = Path(__file__).resolve().parents[2]
FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json")
LABELS = {"instance": "nightly-host", "job": "node"}
HOURS = 30  # each night is exposed this long after its run


def _promtool() -> str:
    found = shutil.which("promtool") or str(ROOT / ".venv" / "tools" / "promtool")
    if not os.access(found, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: make .venv/tools/promtool")
        pytest.skip("promtool is missing (make .venv/tools/promtool fetches it)")
    return found


def recipe() -> str:
    """The rules file exactly as docs/nightly.md shows it."""
    text = (ROOT / "docs" / "nightly.md").read_text()
    found = re.search(r"```yaml\n(groups:\n.*?)```", text, re.DOTALL)
    assert found, "docs/nightly.md has no ```yaml block of rules"
    return found.group(1)


@dataclass
class Night:
    exit_code: int
    metrics: str


def _series(night: Night) -> list[dict[str, str]]:
    """The night's metrics as promtool input series, its run's end at test time 0."""
    families = list(text_string_to_metric_families(night.metrics))
    ended = next(
        s.value
        for f in families
        for s in f.samples
        if s.name.endswith("last_run_timestamp_seconds")
    )
    series = []
    for family in families:
        for sample in family.samples:
            value = (
                sample.value - ended if sample.name.endswith("_timestamp_seconds") else sample.value
            )
            labels = {**sample.labels, **LABELS}
            selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            series.append(
                {"series": f"{sample.name}{{{selector}}}", "values": f"{value:g}+0x{HOURS * 60}"}
            )
    return series


def _alerts(
    night: Night,
    hours: float,
    firing: set[str],
    rules: list[str],
    labels: dict[str, dict[str, str]],
) -> list[dict[str, object]]:
    eval_time = f"{int(hours * 60)}m"
    return [
        {
            "eval_time": eval_time,
            "alertname": name,
            "exp_alerts": [{"exp_labels": labels.get(name, LABELS)}] if name in firing else [],
        }
        for name in rules
    ]


def _check(tmp_path: Path, night: Night, expected: dict[float, set[str]]) -> None:
    rules_text = recipe()
    names = re.findall(r"- alert: (\w+)", rules_text)
    (tmp_path / "rules.yml").write_text(rules_text)
    version = re.search(r'api_version_deprecated\{version="([^"]*)"\}', night.metrics)
    sunset_labels = {**LABELS, "version": version.group(1)} if version else LABELS
    # absent() has no series to take labels from; the sunset's has the version's.
    labels = {"DeelTokensNeverRefreshed": {}, "DeelApiVersionSunset": sunset_labels}
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(night),
                "alert_rule_test": [
                    check
                    for hours, firing in expected.items()
                    for check in _alerts(night, hours, firing, names, labels)
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(json.dumps(tests, indent=1))  # JSON is YAML
    done = subprocess.run(
        [_promtool(), "test", "rules", "tests.yml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _night(api_url: str, src: Path, out: Path, metrics: Path, *extra: str, token: str) -> Night:
    res = run_cli(
        "worker-tokens", str(src), "-o", str(out), "--base-url", api_url, *FAST,
        "--metrics-file", str(metrics), *extra, env={"DEEL_API_TOKEN": token},
    )  # fmt: skip
    return Night(res.exit_code, metrics.read_text())


def test_a_good_night_pages_nobody_until_a_day_passes_without_another(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(5))
    night = _night(
        api.base_url, src, tmp_path / "t.jsonl", tmp_path / "m.prom", token=ENV["DEEL_API_TOKEN"]
    )
    assert night.exit_code == 0
    # 26.5 h on with no run since: nothing refreshed, and the tokens expired 2.5 h ago.
    _check(tmp_path, night, {2: set(), 26.5: {"DeelTokensNotRefreshed", "DeelTokensExpired"}})


def test_a_night_with_a_permanent_bad_row_is_complete_and_pages_nobody(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(4)
    gone = new_ids(1)[0]  # a worker HR deleted: 404 for ever
    api = sim(rate=None, unknown_profiles={gone})
    src = write_csv(tmp_path / "in.csv", [*ids, gone, "TBD"])
    night = _night(
        api.base_url, src, tmp_path / "t.jsonl", tmp_path / "m.prom", token=ENV["DEEL_API_TOKEN"]
    )
    assert night.exit_code == 1
    assert "last_success_timestamp_seconds" not in night.metrics  # the old recipe's series
    _check(tmp_path, night, {2: set(), 26.5: {"DeelTokensNotRefreshed", "DeelTokensExpired"}})


def test_an_aborted_night_pages_at_once_and_again_when_tokens_run_out(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, token="old-token")
    src, out, metrics = (
        write_csv(tmp_path / "in.csv", new_ids(5)),
        tmp_path / "t.jsonl",
        tmp_path / "m.prom",
    )
    good = _night(api.base_url, src, out, metrics, token="old-token")
    assert good.exit_code == 0
    api.config.token = "rotated-at-deel"  # the old token is refused from now on
    aborted = _night(
        api.base_url, src, out, metrics, "--resume", "--refresh-within", "25h", token="old-token"
    )
    assert aborted.exit_code == 3
    _check(
        tmp_path,
        aborted,
        {
            2: {"DeelBatchFailed"},
            26.5: {"DeelBatchFailed", "DeelTokensNotRefreshed", "DeelTokensExpired"},
        },
    )


def test_a_first_night_that_never_completes_is_paged_by_absent(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, plan={}, p_500=1.0)
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    night = _night(
        api.base_url, src, tmp_path / "t.jsonl", tmp_path / "m.prom", "--max-attempts", "2",
        "--give-up-after", "0", token=ENV["DEEL_API_TOKEN"],
    )  # fmt: skip
    assert night.exit_code == 1  # transient failures: finished, not complete
    assert "last_complete_timestamp_seconds" not in night.metrics
    _check(tmp_path, night, {2: set(), 26.5: {"DeelTokensNeverRefreshed"}})


def test_a_sunset_within_90_days_pages_and_a_later_one_does_not(
    sim: StartSim, tmp_path: Path
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    for days, firing in ((30, {"DeelApiVersionSunset"}), (200, set())):
        api = sim(rate=None, deprecated_since=today, sunset=today + dt.timedelta(days=days))
        folder = tmp_path / str(days)
        folder.mkdir()
        night = _night(
            api.base_url, src, folder / "t.jsonl", folder / "m.prom", token=ENV["DEEL_API_TOKEN"]
        )
        assert night.exit_code == 0
        assert 'deel_batch_api_version_deprecated{version="2026-01-01"} 1.0' in night.metrics
        _check(folder, night, {2: firing})


def test_the_readme_alerts_on_what_the_recipe_alerts_on() -> None:
    # The README's nightly paragraph quotes the rules; each quote must be one of the
    # recipe's expressions (the ones promtool checks), the sunset's included.
    readme = " ".join((ROOT / "README.md").read_text().split())
    quoted = [e for e in re.findall(r"`([^`]*deel_batch_[^`]*)`", readme) if re.search("[<>]", e)]
    expressions = {" ".join(e.split()) for e in re.findall(r"expr: (.*)", recipe())}
    assert any("api_version_sunset" in e for e in quoted)
    assert quoted
    assert set(quoted) <= expressions
