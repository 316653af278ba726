"""What a nightly run tells its monitoring and its admin: a complete night (every ID at its
final answer) also when it exits 1; the earliest expiry of the input's current tokens; a
summary that says "nothing to finish" when only permanent failures are left."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StartSim
from tests.helpers import ENV, CliResult, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--backoff-base", "0.01", "--log-format", "json")


def _metrics(path: Path) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
        if not sample.labels
    }


def _help(path: Path, name: str) -> str:
    found = re.search(rf"^# HELP {name} (.*)$", path.read_text(), re.MULTILINE)
    assert found, name
    return found.group(1)


def _run(
    api_url: str,
    src: Path,
    out: Path,
    metrics: Path,
    *extra: str,
    token: str = ENV["DEEL_API_TOKEN"],
) -> CliResult:
    return run_cli(
        "worker-tokens", str(src), "-o", str(out), "--base-url", api_url, *FAST,
        "--metrics-file", str(metrics), *extra, env={"DEEL_API_TOKEN": token},
    )  # fmt: skip


def test_a_night_with_only_permanent_failures_is_complete_but_not_a_success(
    sim: StartSim, tmp_path: Path
) -> None:
    ids, gone = new_ids(3), new_ids(1)[0]
    api = sim(rate=None, unknown_profiles={gone})
    src, out, metrics = (
        write_csv(tmp_path / "in.csv", [*ids, gone, "TBD"]),
        tmp_path / "t.jsonl",
        tmp_path / "m.prom",
    )
    res = _run(api.base_url, src, out, metrics)
    assert res.exit_code == 1
    got = _metrics(metrics)
    assert got["deel_batch_exit_code"] == 1
    assert (
        abs(
            got["deel_batch_last_complete_timestamp_seconds"]
            - got["deel_batch_last_run_timestamp_seconds"]
        )
        < 1
    )
    assert "deel_batch_last_success_timestamp_seconds" not in got
    assert got["deel_batch_failed_transient"] == 0
    assert "exit 1 included" in _help(metrics, "deel_batch_last_complete_timestamp_seconds")
    finished = res.event("run_finished")
    assert finished["permanent"] == 2
    assert "resume" not in finished  # nothing a --resume would change


def test_a_transiently_failing_or_aborted_night_is_not_complete(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(3)
    api = sim(rate=None, token="org-token")
    src, out, metrics = (
        write_csv(tmp_path / "in.csv", ids),
        tmp_path / "t.jsonl",
        tmp_path / "m.prom",
    )
    assert _run(api.base_url, src, out, metrics, token="org-token").exit_code == 0
    complete = _metrics(metrics)["deel_batch_last_complete_timestamp_seconds"]
    success = _metrics(metrics)["deel_batch_last_success_timestamp_seconds"]
    assert "exited 0" in _help(metrics, "deel_batch_last_success_timestamp_seconds")
    api.config.plan = {ids[0]: ["500"] * 10}
    failing = _run(
        api.base_url, src, out, metrics, "--resume", "--refresh-within", "25h", token="org-token"
    )
    assert failing.exit_code == 1
    got = _metrics(metrics)
    assert got["deel_batch_failed_transient"] == 1
    assert got["deel_batch_last_complete_timestamp_seconds"] == complete  # carried, not set
    assert "resume" in failing.event("run_finished")
    api.config.token = "another"
    aborted = _run(
        api.base_url, src, out, metrics, "--resume", "--refresh-within", "25h", token="org-token"
    )
    assert aborted.exit_code == 3
    got = _metrics(metrics)
    assert got["deel_batch_last_complete_timestamp_seconds"] == complete
    assert got["deel_batch_last_success_timestamp_seconds"] == success


def _expiry(record: dict[str, object]) -> float:
    assert isinstance(record["expires_at"], str)
    return datetime.fromisoformat(record["expires_at"]).timestamp()


def test_the_earliest_expiry_is_that_of_the_inputs_current_tokens(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(4)
    api = sim(rate=None)
    out, metrics = tmp_path / "t.jsonl", tmp_path / "m.prom"
    first = _run(api.base_url, write_csv(tmp_path / "all.csv", ids), out, metrics)
    assert first.exit_code == 0
    records = {r["profile_id"]: r for r in read_jsonl(out)}
    earliest = min(_expiry(r) for r in records.values())
    assert _metrics(metrics)["deel_batch_tokens_earliest_expiry_timestamp_seconds"] == earliest
    # HR drops ids[0] from the export; ids[1] is re-issued, the rest kept.
    fewer = write_csv(tmp_path / "fewer.csv", ids[1:])
    # Make ids[0]'s token the file's earliest: 2 hours ago, long expired.
    aged = [
        {**r, "expires_at": "2020-01-01T00:00:00Z"} if r["profile_id"] == ids[0] else r
        for r in records.values()
    ]  # (two tokens may share an expiry text: age this one only)
    out.write_text("".join(json.dumps(r) + "\n" for r in aged))
    kept = _run(api.base_url, fewer, out, metrics, "--resume")
    assert kept.exit_code == 0
    current = {r["profile_id"]: r for r in read_jsonl(out)}
    expected = min(_expiry(current[pid]) for pid in ids[1:])
    # A worker no longer in the input does not page anyone with its old token.
    assert _metrics(metrics)["deel_batch_tokens_earliest_expiry_timestamp_seconds"] == expected


def test_a_worker_deleted_after_it_had_a_token_does_not_hold_the_earliest_expiry(
    sim: StartSim, tmp_path: Path
) -> None:
    ids = new_ids(3)
    api = sim(rate=None)
    src, out, metrics = (
        write_csv(tmp_path / "in.csv", ids),
        tmp_path / "t.jsonl",
        tmp_path / "m.prom",
    )
    assert _run(api.base_url, src, out, metrics).exit_code == 0
    # HR deletes ids[0]; its token, long expired, is due, and the API answers 404 for good.
    records = {r["profile_id"]: r for r in read_jsonl(out)}
    aged = [{**r, "expires_at": "2020-01-01T00:00:00Z"} if r["profile_id"] == ids[0] else r
            for r in records.values()]  # fmt: skip
    out.write_text("".join(json.dumps(r) + "\n" for r in aged))
    api.config.unknown_profiles = {ids[0]}
    night = _run(api.base_url, src, out, metrics, "--resume", "--refresh-within", "1h")
    assert night.exit_code == 1
    got = _metrics(metrics)
    assert got["deel_batch_tokens_earliest_expiry_timestamp_seconds"] == min(
        _expiry(records[pid]) for pid in ids[1:]
    )  # the kept tokens of the two workers left, not the deleted one's of 2020


def test_only_permanent_failures_say_where_they_are_and_no_to_finish_line(
    sim: StartSim, tmp_path: Path
) -> None:
    ids, gone = new_ids(2), new_ids(1)[0]
    api = sim(rate=None, unknown_profiles={gone})
    src = write_csv(tmp_path / "in.csv", [*ids, gone, "TBD"])
    common = ("--base-url", api.base_url, "--rate", "1000", "--log-format", "console")
    errors = tmp_path / "failed.csv"
    res = run_cli(
        "worker-tokens", str(src), "-o", str(tmp_path / "a.jsonl"), "--errors", str(errors),
        *common, env=ENV,
    )  # fmt: skip
    assert res.exit_code == 1
    assert "to finish, run:" not in res.stderr
    assert "  to finish:" not in res.stderr
    assert (
        f"nothing to finish: 1 ID the API refused for good and 1 invalid row, in {errors}: "
        "a retry would get the same answer; fix the input"
    ) in res.stderr
    quiet = run_cli(
        "worker-tokens", str(src), "-o", str(tmp_path / "b.jsonl"), *common, "--quiet", env=ENV
    )
    (line,) = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert line.endswith(
        f"; results in {tmp_path / 'b.jsonl'}; 2 error records in {tmp_path / 'b.jsonl'} (status error)"
    )
    api.config.plan = {ids[0]: ["500"] * 10}
    transient = run_cli(
        "worker-tokens",
        str(src),
        "-o",
        str(tmp_path / "c.jsonl"),
        *common,
        "--backoff-base",
        "0.01",
        env=ENV,
    )
    assert transient.exit_code == 1
    assert "  to finish, run:\n    deel-batch " in transient.stderr  # in-process: argv is pytest's
    assert "nothing to finish" not in transient.stderr
