"""A year of nights, as an admin's cron would run them, against `deel-batch simulate-api`.

    .venv/bin/python -m bench.nightly_year [--ids N]

Twelve representative nights (one a month) of the nightly line of docs/nightly.md, each a
real `deel-batch worker-tokens … --resume` process against a real `deel-batch
simulate-api` process on loopback: a good night, a permanent bad row appearing in the
export, a rotation of the organization token, a server that loses answers after minting,
a deprecation announced in the headers, a token revoked mid-run (exit 3), the new token
installed and the command the aborted night printed run as it was printed, the bad row
fixed, a SIGTERM, its resume. After each night it prints the exit
code, the results file's line count, whether ``tokens.jsonl.prev`` is there, and the
metrics file (ages and times relative to the end of the night).

The simulated API keeps its tokens while it runs; it is restarted only where a night
needs another knob (a deprecation, faults, a revoked token), as an admin restarting
`simulate-api` would. Tokens last 24 h on the server's clock, and the nights here are
minutes apart: "a month later" is ``--refresh-within 25h``, which makes every token due,
as 24 h later it would be (the expiry advanced, not the clock). Output goes to
bench/out/nightly-year/.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

BENCH = Path(__file__).resolve().parent
DEEL_BATCH = str(Path(sys.executable).with_name("deel-batch"))
RATE = "20"  # the simulated organization's limit, and the run's --rate: nights of seconds


@dataclass
class Server:
    """A `deel-batch simulate-api` process, and what it said when it stopped."""

    args: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen[str] | None = None
    said: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rest/v2"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(*args: str, port: int = 0) -> Iterator[Server]:
    server = Server(args, port or _free_port())
    command = [DEEL_BATCH, "simulate-api", "--port", str(server.port), "--rate", RATE, *args]
    server.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise RuntimeError("simulate-api did not start") from None
            time.sleep(0.05)
    try:
        yield server
    finally:
        server.process.send_signal(signal.SIGINT)
        _, err = server.process.communicate(timeout=15)
        server.said = [line for line in err.splitlines() if line.strip()]


@dataclass
class Admin:
    """The admin's machine: the export, the token file, the nightly command."""

    home: Path
    ids: list[str]
    unknown: str = ""
    bad_rows: bool = False

    @property
    def export(self) -> Path:
        return self.home / "profiles.csv"

    @property
    def results(self) -> Path:
        return self.home / "tokens.jsonl"

    @property
    def metrics(self) -> Path:
        return self.home / "deel_batch.prom"

    def write_export(self) -> None:
        rows = [*self.ids]
        if self.bad_rows:
            rows += [self.unknown, "TBD"]  # a worker HR deleted (404), a placeholder row
        lines = ["profile_id,email", *(f"{pid},w{i}@example.com" for i, pid in enumerate(rows))]
        self.export.write_text("\n".join(lines) + "\n")

    def install_token(self, token: str) -> None:
        path = self.home / "token"
        path.write_text(token + "\n")
        path.chmod(0o640)  # root:deel, as docs/nightly.md says: group access is fine

    def nightly(self, server: Server, *extra: str, refresh: str = "25h") -> list[str]:
        """The nightly line of docs/nightly.md; ``--refresh-within 25h`` (every token due)
        stands for "24 h later"."""
        return [
            DEEL_BATCH, "worker-tokens", str(self.export), "-o", str(self.results),
            "--resume", "--refresh-within", refresh, "--errors", str(self.home / "failed.csv"),
            "--token-file", str(self.home / "token"), "--base-url", server.base_url,
            "--rate", RATE, "--metrics-file", str(self.metrics),
            "--log-file", str(self.home / "deel-batch.log"), *extra,
        ]  # fmt: skip


def _run(command: list[str], *, term_after: float | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "DEEL_API_TOKEN"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if term_after is not None:
        time.sleep(term_after)
        process.send_signal(signal.SIGTERM)
    process.communicate(timeout=600)
    return process.returncode


def _metrics(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


#: (name, when it started) of each night so far: a timestamp is named by the night that set it
NIGHTS: list[tuple[str, float]] = []
#: the "to finish" command the last night printed (run_finished's ``resume``), if any
PRINTED: list[str] = []


def _by(value: float | None) -> str:
    """The night that set a timestamp: "Jan" (this night) or "Mar (carried)"."""
    if value is None:
        return "-"
    name = next((n for n, start in reversed(NIGHTS) if start <= value), "?")
    return name if name == NIGHTS[-1][0] else f"{name} (carried)"


def _hours(value: float | None, now: float) -> str:
    return "-" if value is None else f"{(value - now) / 3600:+.2f}h"


def night(label: str, admin: Admin, command: list[str], **how: float) -> int:
    NIGHTS.append((label.split(":", maxsplit=1)[0], time.time()))
    code = _run(command, **how)
    report(label, admin, code)
    return code


def report(label: str, admin: Admin, code: int) -> None:
    now = time.time()
    m = _metrics(admin.metrics)
    p = "deel_batch_"
    lines = len(admin.results.read_text().splitlines()) if admin.results.exists() else 0
    prev = Path(f"{admin.results}.prev").exists()
    sunset = next((v for k, v in m.items() if k.startswith(f"{p}api_version_sunset")), None)
    deprecated = next((v for k, v in m.items() if k.startswith(f"{p}api_version_deprecated")), None)
    print(f"\n== {label}")
    print(f"   exit {code}; tokens.jsonl {lines} lines; .prev {'present' if prev else 'absent'}")
    print(
        f"   metrics: exit_code={m.get(p + 'exit_code', '-'):g}"
        f"  ok={m.get(p + 'records{status=ok}', 0):g}"
        f" failed={m.get(p + 'records{status=failed}', 0):g}"
        f" (transient {m.get(p + 'failed_transient', 0):g})"
        f" invalid={m.get(p + 'records{status=invalid}', 0):g}"
        f" skipped={m.get(p + 'records{status=skipped}', 0):g}"
        f" not_attempted={m.get(p + 'records{status=not_attempted}', 0):g}"
    )
    print(
        f"            last_success: {_by(m.get(p + 'last_success_timestamp_seconds'))}"
        f"  last_complete: {_by(m.get(p + 'last_complete_timestamp_seconds'))}"
        f"  earliest_expiry {_hours(m.get(p + 'tokens_earliest_expiry_timestamp_seconds'), now)}"
    )
    print(
        f"            api_deprecated {'-' if deprecated is None else f'{deprecated:g}'}"
        f"  api_sunset {'-' if sunset is None else time.strftime('%Y-%m-%d', time.gmtime(sunset))}"
    )
    log = admin.home / "deel-batch.log"
    if log.exists():
        events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        names = [e.get("event") for e in events]
        seen = [
            f"{n} x{names.count(n)}"
            for n in ("origin_changed", "api_version_deprecated", "run_aborted")
            if n in names
        ]
        finished: dict[str, object] = next(
            (e for e in reversed(events) if e.get("event") == "run_finished"), {}
        )
        PRINTED[:] = shlex.split(str(finished["resume"])) if "resume" in finished else []
        print(
            f"   run_finished: permanent={finished.get('permanent')} replayed={finished.get('replayed')}"
            f" in_progress={finished.get('in_progress')} requests={finished.get('requests')}"
            f"; 'to finish' command: {'yes' if 'resume' in finished else 'no'}"
            + (f"; warnings: {', '.join(seen)}" if seen else "")
        )
        log.write_text("")  # one night's log per report


def stopped(server: Server) -> None:
    if server.said:
        print(f"   -- {server.said[-1]}")


def year(ids: int) -> None:
    home = BENCH / "out" / "nightly-year"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    admin = Admin(home, [str(uuid.uuid4()) for _ in range(ids)], unknown=str(uuid.uuid4()))
    (home / "unknown.txt").write_text(admin.unknown + "\n")
    unknown = ("--unknown-ids", str(home / "unknown.txt"))
    admin.write_export()
    admin.install_token("org-token-2027-q1")
    print(f"{ids} workers; nightly line: {' '.join(admin.nightly(Server(port=8080)))}")

    deprecated = ("--deprecated-since", "2027-01-01")
    with serving(*unknown) as server:
        night("Jan: first night, a clean export", admin, admin.nightly(server))
        admin.bad_rows = True
        admin.write_export()
        night("Feb: HR's export gains 'TBD' and a deleted worker", admin, admin.nightly(server))
        night("Mar: the same export", admin, admin.nightly(server))
        admin.install_token("org-token-2027-q2")
        night("Apr: the organization token was rotated", admin, admin.nightly(server))
        night(
            "Apr+: the same day, run again by hand (the real --refresh-within 3h)",
            admin,
            admin.nightly(server, refresh="3h"),
        )
    stopped(server)
    with serving(*unknown, "--p-mint-then-timeout", "0.1", "--stall-seconds", "4") as server:
        night(
            "May: the API times out after minting, one answer in ten",
            admin,
            admin.nightly(server, "--timeout", "2"),
        )
    stopped(server)
    with serving(*unknown, *deprecated) as server:
        night("Jun: Deel deprecates 2026-01-01", admin, admin.nightly(server))
        night("Jul: still deprecated", admin, admin.nightly(server))
    stopped(server)
    revoked = max(ids // 3, 1)
    with serving(*unknown, *deprecated, "--revoke-after", str(revoked)) as server:
        night(f"Aug: the old token is revoked after {revoked} mints", admin, admin.nightly(server))
    stopped(server)
    revoked_port = server.port
    admin.install_token("org-token-2027-q3")
    assert PRINTED, "the aborted night printed no command to finish"
    printed = [DEEL_BATCH, *PRINTED[1:]]  # the command Aug printed, exactly: same base URL
    with serving(*unknown, *deprecated, port=revoked_port) as server:
        night("Sep: the new token is installed; the command Aug printed", admin, printed)
        admin.bad_rows = False
        admin.write_export()
        night("Oct: HR fixed the export", admin, admin.nightly(server))
        night(
            "Nov: SIGTERM two seconds in (a reboot)", admin, admin.nightly(server), term_after=2.0
        )
        night("Dec: the next night finishes it", admin, admin.nightly(server))
    stopped(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=120)
    year(parser.parse_args().ids)


if __name__ == "__main__":
    main()
