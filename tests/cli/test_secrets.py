"""Secrets never reach a log line; files are private; TLS is verified against a real local server."""

from __future__ import annotations

import json
import os
import pwd
import ssl
import stat
from pathlib import Path

import pytest
import trustme

from batch.engine import ConfigError
from batch.output._file import OutputFile
from batch.output._permissions import decide, make_private
from tests.conftest import StartSim, VirtualSim
from tests.helpers import ENV, JOBS, job_args, new_ids, read_jsonl, run_cli, write_csv

ORG_TOKEN = ENV["DEEL_API_TOKEN"]


def test_no_secret_in_any_log_line_at_debug_level_under_faults(
    virtual_sim: VirtualSim, tmp_path: Path
) -> None:
    # On virtual time: the pacer's pauses after the 429s take no real time.
    sim = virtual_sim(
        rate=None,
        seed=4,
        p_malformed=0.25,
        p_500=0.1,
        p_503_html=0.1,
        p_429=0.1,
        p_drop=0.05,
    )
    ids = new_ids(60)
    out = tmp_path / "out.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", ids)), "-o", str(out), "--errors",
        str(tmp_path / "e.csv"), "--simulate", "--rate", "200", "--backoff-base", "0.01",
        "--max-attempts", "8", "--log-level", "debug", "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert res.exit_code in (0, 1), res.stderr
    api = sim.api
    assert api.stats.injected["malformed"] > 0  # the garbled 201s held token-like strings
    issued = [token for tokens in api.stats.issued.values() for token in tokens]
    written = [r["token"] for r in read_jsonl(out) if r["status"] == "ok"]
    assert written
    logs = res.stderr
    assert "response" in res.names()  # debug events were on
    for secret in [ORG_TOKEN, *issued, *written]:
        assert secret not in logs
    assert "wt_MALFORMED" not in logs
    assert "Bearer" not in logs


def test_revoking_a_results_file_logs_none_of_its_tokens_at_debug_under_faults(
    virtual_sim: VirtualSim, tmp_path: Path
) -> None:
    """revoke-tokens reads a file of tokens (its INPUT): none of them reaches a log line."""
    sim = virtual_sim(rate=None, seed=7, p_500=0.1, p_503_html=0.1, p_429=0.1, p_drop=0.05)
    tokens = tmp_path / "tokens.jsonl"
    fast = ("--simulate", "--rate", "200", "--backoff-base", "0.01", "--max-attempts", "8")
    made = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(40))), "-o", str(tokens),
        *fast, "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert made.exit_code in (0, 1), made.stderr
    sim.config.p_malformed = 0.25  # revoked, then a 200 whose body is "OK"
    res = run_cli(
        "revoke-tokens", str(tokens), "-o", str(tmp_path / "r.jsonl"), "--errors",
        str(tmp_path / "e.csv"), "--yes", *fast, "--log-level", "debug",
        "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert res.exit_code in (0, 1), res.stderr
    assert "response" in res.names()  # debug events were on
    assert sum(api.stats.revocations for api in sim.served) > 0
    in_file = [r["token"] for r in read_jsonl(tokens) if r["status"] == "ok"]
    issued = [
        token for api in sim.served for tokens_ in api.stats.issued.values() for token in tokens_
    ]
    assert in_file
    for secret in [ORG_TOKEN, *issued]:
        assert secret not in res.stderr
    assert "Bearer" not in res.stderr


def test_errors_named_like_the_tokens_file_a_revocation_reads_are_refused(
    tmp_path: Path,
) -> None:
    tokens = tmp_path / "other-tokens.jsonl"
    tokens.write_text(
        '{"profile_id": "00000000-0000-4000-8000-000000000001", "status": "ok", "token": "wt_x", '
        '"expires_at": "2026-01-01T00:00:00Z", "attempts": 1, "line": 2}\n'
    )
    res = run_cli(
        "revoke-tokens", str(write_csv(tmp_path / "in.csv", new_ids(1))), "-o",
        str(tmp_path / "r.jsonl"), "--errors", str(tokens), "--yes", "--log-format", "json",
        env=ENV,
    )  # fmt: skip
    assert res.exit_code == 2
    assert "holds records with tokens" in res.event("usage_error")["message"]
    assert "wt_x" in tokens.read_text()


@pytest.mark.parametrize("job", JOBS)
def test_a_refused_token_is_not_echoed_at_debug(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None, token="the-real-one")
    res = run_cli(
        job, str(write_csv(tmp_path / "in.csv", new_ids(5))), "--base-url", api.base_url,
        "--log-level", "debug", "--log-format", "json", *job_args(job), env=ENV,
    )  # fmt: skip
    assert res.exit_code == 3
    assert ORG_TOKEN not in res.stderr
    assert ORG_TOKEN not in res.stdout


def test_there_is_no_token_option() -> None:
    res = run_cli("worker-tokens", "--token", "abc", "x.csv")
    assert res.exit_code == 2
    assert "No such option '--token'" in res.stderr


@pytest.mark.parametrize(
    ("mode", "warned"),
    [(0o644, "readable"), (0o604, "readable"), (0o602, "writable"), (0o640, ""), (0o600, "")],
)
def test_token_file_is_read_and_a_world_readable_one_is_warned_about(
    sim: StartSim, tmp_path: Path, mode: int, warned: str
) -> None:
    # 0640 root:deel is how a service group is given the token: fine. 0644 is not.
    api = sim(rate=None, token="from-the-file")
    token_file = tmp_path / "token"
    token_file.write_text("from-the-file\n")
    token_file.chmod(mode)
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(2))), "-o", str(tmp_path / "o.jsonl"),
        "--token-file", str(token_file), "--base-url", api.base_url, "--log-format", "json",
        env={"DEEL_API_TOKEN": ""},
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert ("token_file_permissions" in res.names()) == bool(warned)
    if warned:
        warning = res.event("token_file_permissions")
        assert f"{warned} by every user" in warning["message"]
        assert "chmod o-rwx" in warning["message"]
    assert "from-the-file" not in res.stderr


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o600])
def test_an_existing_results_file_is_made_private_before_the_first_token(
    sim: StartSim, tmp_path: Path, mode: int, job: str
) -> None:
    api = sim(rate=None)
    out = tmp_path / "o.jsonl"
    out.write_text("")
    out.chmod(mode)
    res = run_cli(
        job, str(write_csv(tmp_path / "in.csv", new_ids(1))), "-o", str(out),
        "--base-url", api.base_url, "--log-format", "json", *job_args(job), env=ENV,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    told = [e for e in res.events if e["event"] == "output_file_permissions"]
    if mode == 0o600:
        assert not told
    else:
        assert len(told) == 1  # once, before the first record
        assert (told[0]["mode"], told[0]["now"]) == (f"{mode:04o}", "0600")
        assert res.names().index("output_file_permissions") < res.names().index("run_started")


def _nobody() -> int:
    return pwd.getpwnam("nobody").pw_uid


def test_a_results_file_owned_by_someone_else_is_refused(sim: StartSim, tmp_path: Path) -> None:
    """Its owner could read every token (and chmod it back): exit 2, one line, nothing written.

    Tests run as root here: root may write and chmod any file, so the file is given to
    ``nobody`` and the command line must refuse it. Not as root, no such file can be
    made; the same decision is then checked on the function that takes it.
    """
    out = tmp_path / "o.jsonl"
    out.write_text("")
    out.chmod(0o644)
    if os.geteuid() != 0:
        fd = os.open(out, os.O_RDWR)
        try:
            with pytest.raises(ConfigError, match="belongs to"):
                make_private(fd, str(out), None, me=os.geteuid() + 1)
        finally:
            os.close(fd)
        return
    os.chown(out, _nobody(), -1)
    api = sim(rate=None)
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(2))), "-o", str(out),
        "--base-url", api.base_url, "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert res.exit_code == 2, res.stderr
    errors = [e for e in res.events if e["level"] == "error"]
    assert len(errors) == 1
    assert "belongs to user 'nobody'" in errors[0]["message"]
    assert out.read_bytes() == b""
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # not touched either
    assert api.stats.requests == 0


@pytest.mark.parametrize(
    ("mode", "owner", "action"),
    [
        (0o600, 1000, "keep"),
        (0o400, 1000, "keep"),
        (0o644, 1000, "tighten"),
        (0o640, 1000, "tighten"),
        (0o606, 1000, "tighten"),
        (0o600, 0, "refuse"),
        (0o644, 0, "refuse"),
    ],
)
def test_what_is_done_with_an_existing_results_file(mode: int, owner: int, action: str) -> None:
    assert decide(mode, owner, me=1000) == action


def test_a_filesystem_that_ignores_modes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vfat or a CIFS share accept chmod and change nothing (no such mount here: chmod is
    replaced by one that does nothing, the way those filesystems behave)."""
    out = tmp_path / "o.jsonl"
    out.write_text("")
    out.chmod(0o644)
    monkeypatch.setattr(os, "fchmod", lambda _fd, _mode: None)
    with pytest.raises(ConfigError, match="ignores chmod 600"):
        OutputFile(str(out), start="new")
    monkeypatch.undo()

    def refuse(_fd: int, _mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)
    with pytest.raises(ConfigError, match="chmod 600 failed"):
        OutputFile(str(out), start="new")


def test_an_errors_file_readable_by_others_is_replaced_by_a_private_one(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None)
    errors = tmp_path / "failed.csv"
    errors.write_text("")
    errors.chmod(0o644)
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(1))), "-o",
        str(tmp_path / "o.jsonl"), "--errors", str(errors), "--base-url", api.base_url,
        "--log-format", "json", env=ENV,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert stat.S_IMODE(errors.stat().st_mode) == 0o600


@pytest.mark.parametrize("job", JOBS)
def test_new_files_are_private_whatever_the_umask(sim: StartSim, tmp_path: Path, job: str) -> None:
    api = sim(rate=None)
    old = os.umask(0)
    try:
        res = run_cli(
            job, str(write_csv(tmp_path / "in.csv", ["bad", *new_ids(1)])), "-o",
            str(tmp_path / "o.csv"), "--errors", str(tmp_path / "e.csv"), "--log-file",
            str(tmp_path / "log.jsonl"), "--base-url", api.base_url, *job_args(job), env=ENV,
        )  # fmt: skip
    finally:
        os.umask(old)
    assert res.exit_code == 1
    for name in ("o.csv", "e.csv", "log.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def test_tls_with_a_trusted_ca_works(
    sim: StartSim, tmp_path: Path, ca: trustme.CA, tls_server: ssl.SSLContext
) -> None:
    api = sim(rate=None, ssl_context=tls_server)
    assert api.base_url.startswith("https://127.0.0.1:")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    out = tmp_path / "o.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(3))), "-o", str(out),
        "--base-url", api.base_url, "--log-format", "json", env={**ENV, "SSL_CERT_FILE": str(ca_file)},
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert [r["status"] for r in read_jsonl(out)] == ["ok"] * 3


def test_tls_with_an_unknown_ca_is_fatal_and_sends_no_token(
    sim: StartSim, tmp_path: Path, tls_server: ssl.SSLContext
) -> None:
    api = sim(rate=None, ssl_context=tls_server)
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    out = tmp_path / "o.jsonl"
    res = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(20))), "-o", str(out),
        "--base-url", api.base_url, "--concurrency", "2", "--log-format", "json",
        env={**ENV, "SSL_CERT_FILE": str(other)},
    )  # fmt: skip
    assert res.exit_code == 3
    reason = res.event("run_aborted")["reason"]
    assert reason.startswith("TLS certificate of 127.0.0.1 is not trusted")
    assert "nothing was sent" in reason
    assert api.stats.requests == 0
    assert res.event("run_finished")["not_attempted"] >= 18


def test_an_internal_error_is_one_line_and_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import batch.cli._main

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug with a secret-looking text " + ORG_TOKEN)

    monkeypatch.setattr(batch.cli._main, "execute", broken)
    res = run_cli(
        "worker-tokens",
        str(write_csv(tmp_path / "in.csv", new_ids(1))),
        "--log-format",
        "json",
        env=ENV,
    )
    assert res.exit_code == 70
    assert "Traceback" not in res.stderr
    assert ORG_TOKEN not in res.stderr
    human = [line for line in res.stderr.splitlines() if not line.startswith("{")]
    assert human == [
        "deel-batch: internal error (RuntimeError); run again with --log-level debug "
        "to see the details, and please report it"
    ]
    debug = run_cli(
        "worker-tokens", str(write_csv(tmp_path / "in.csv", new_ids(1))), "--log-format", "json",
        "--log-level", "debug", env=ENV,
    )  # fmt: skip
    event = next(json.loads(line) for line in debug.stderr.splitlines() if '"exception"' in line)
    assert "RuntimeError" in event["exception"]
    assert ORG_TOKEN not in debug.stderr  # redacted even inside the traceback
