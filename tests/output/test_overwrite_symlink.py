"""--overwrite of a symlinked results file works where the link points, as compaction does."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import StartSim
from tests.helpers import ENV, new_ids, read_jsonl, run_cli, write_csv

FAST = ("--rate", "1000", "--log-format", "json")


def test_overwrite_keeps_the_link_and_the_previous_tokens_beside_its_target(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    ids = new_ids(3)
    src = write_csv(tmp_path / "in.csv", ids)
    vault = tmp_path / "vault"
    vault.mkdir()
    target, link = vault / "tokens.jsonl", tmp_path / "tokens.jsonl"
    link.symlink_to(target)
    base = ("worker-tokens", str(src), "-o", str(link), "--base-url", api.base_url, *FAST)
    assert run_cli(*base, env=ENV).exit_code == 0
    old = {r["token"] for r in read_jsonl(target)}
    # Stopped at once by a refused token: the old tokens must still be on disk, beside the target.
    api.revoke()
    res = run_cli(*base, "--overwrite", env=ENV)
    assert res.exit_code == 3
    assert link.is_symlink()
    assert link.resolve() == target
    assert {r["token"] for r in read_jsonl(vault / "tokens.jsonl.prev")} == old
    fresh = sim(rate=None)
    again = ("worker-tokens", str(src), "-o", str(link), "--base-url", fresh.base_url, *FAST)
    assert run_cli(*again, "--resume", env=ENV).exit_code == 0
    assert link.is_symlink()
    assert not (vault / "tokens.jsonl.prev").exists()
    assert len(read_jsonl(target)) == 3
    assert {r["token"] for r in read_jsonl(target)}.isdisjoint(old)
