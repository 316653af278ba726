"""A side file replaced whole (--errors, --metrics-file) never lands on a file of tokens.

Named by mistake like a results file, the replacement at the end of the run (or
on an option error, for metrics) would destroy every token in it: refused, exit
2, the file unchanged.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, run_cli, write_csv

FAST = ("--rate", "1000", "--log-format", "json")


@pytest.mark.parametrize("name", ["tokens.jsonl", "tokens.csv"])
def test_errors_named_like_a_results_file_is_refused(
    sim: StartSim, tmp_path: Path, name: str
) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    tokens = tmp_path / name
    first = run_cli("worker-tokens", str(src), "-o", str(tokens), "--base-url", api.base_url,
                    *FAST, env=ENV)  # fmt: skip
    assert first.exit_code == 0
    before = tokens.read_bytes()
    res = run_cli("worker-tokens", str(src), "-o", str(tmp_path / "new.jsonl"), "--errors",
                  str(tokens), "--base-url", api.base_url, *FAST, env=ENV)  # fmt: skip
    assert res.exit_code == 2
    assert "holds records with tokens" in res.event("usage_error")["message"]
    assert tokens.read_bytes() == before
    assert api.stats.requests == 3  # nothing was sent


def test_metrics_file_named_like_a_results_file_is_refused(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(3))
    tokens = tmp_path / "tokens.jsonl"
    base = ("worker-tokens", str(src), "--base-url", api.base_url, *FAST)
    assert run_cli(*base, "-o", str(tokens), env=ENV).exit_code == 0
    before = tokens.read_bytes()
    res = run_cli(*base, "-o", str(tmp_path / "b.jsonl"), "--metrics-file", str(tokens), env=ENV)
    assert res.exit_code == 2
    assert tokens.read_bytes() == before
    # An option click refuses writes the metrics file too: not over the tokens either.
    typo = run_cli(*base, "-o", str(tmp_path / "c.jsonl"), "--metrics-file", str(tokens),
                   "--rate", "abc", env=ENV)  # fmt: skip
    assert typo.exit_code == 2
    assert tokens.read_bytes() == before


def test_an_earlier_errors_and_metrics_file_are_still_replaced(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(3)
    src = write_csv(tmp_path / "in.csv", ids)
    failed, metrics = tmp_path / "failed.jsonl", tmp_path / "m.prom"
    failed.write_text(json.dumps({"profile_id": ids[0], "status": "error", "attempts": 1}) + "\n")
    metrics.write_text("")
    res = run_cli("worker-tokens", str(src), "-o", str(tmp_path / "t.jsonl"), "--errors",
                  str(failed), "--metrics-file", str(metrics), "--base-url", api.base_url,
                  *FAST, env=ENV)  # fmt: skip
    assert res.exit_code == 0
    assert failed.read_text() == ""
    assert "deel_batch_exit_code 0.0" in metrics.read_text()


def test_a_side_file_that_is_not_a_regular_file_is_refused_not_replaced(
    sim: StartSim, tmp_path: Path
) -> None:
    """``--errors /dev/null`` renamed a regular file over the device (as root: the machine's
    /dev/null became a file). A FIFO stands for the device here."""
    api = sim(rate=None)
    src = write_csv(tmp_path / "in.csv", new_ids(2))
    fifo = tmp_path / "device"
    os.mkfifo(fifo)
    base = ("worker-tokens", str(src), "--base-url", api.base_url, *FAST)
    for option in ("--errors", "--metrics-file"):
        res = run_cli(*base, "-o", str(tmp_path / "t.jsonl"), option, str(fifo), env=ENV)
        assert res.exit_code == 2
        assert "not a regular file" in res.event("usage_error")["message"]
        assert stat.S_ISFIFO(fifo.stat().st_mode)
    typo = run_cli(*base, "--metrics-file", str(fifo), "--rate", "abc", env=ENV)
    assert typo.exit_code == 2
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert api.stats.requests == 0
