"""Names that do not resolve, and a proxy a loopback API must never see."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from tests.conftest import StartSim
from tests.faults._helpers import run_batch
from tests.helpers import new_ids, read_jsonl, write_csv

pytestmark = pytest.mark.slow


def _errors(ran_events: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in ran_events if e.get("level") == "error"]


def test_an_api_host_that_does_not_resolve_stops_the_run_with_exit_3(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(50))
    ran = run_batch(["worker-tokens", str(src), "-o", str(tmp_path / "out.jsonl"),
                     "--base-url", "https://api.deel.invalid/rest/v2", "--log-format", "json"],
                    cwd=tmp_path)  # fmt: skip
    assert ran.code == 3, ran.stderr  # before: exit 1 after 5 attempts per ID
    (error,) = _errors(ran.events)
    assert "the API host api.deel.invalid does not resolve" in str(error["reason"])
    finished = ran.event("run_finished")
    assert finished["requests"] <= 3  # within a few attempts, not 50 x 5
    assert finished["not_attempted"] + finished["failed"] == 50


def test_a_proxy_host_that_does_not_resolve_stops_the_run_with_exit_3(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", new_ids(20))
    ran = run_batch(["worker-tokens", str(src), "-o", str(tmp_path / "out.jsonl"),
                     "--base-url", "https://api.letsdeel.com/rest/v2", "--log-format", "json"],
                    cwd=tmp_path,
                    extra_env={"HTTPS_PROXY": "http://proxy.corp.invalid:3128"})  # fmt: skip
    assert ran.code == 3, ran.stderr
    (error,) = _errors(ran.events)
    assert "the proxy host proxy.corp.invalid does not resolve" in str(error["reason"])
    assert "set by HTTPS_PROXY" in str(error["reason"])
    assert ran.event("run_finished")["requests"] <= 3


def test_a_plain_http_loopback_api_never_goes_through_proxy(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None)
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as proxy:
        proxy.settimeout(0.1)

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = proxy.accept()
                except TimeoutError:
                    continue
                with conn:
                    seen.append(conn.recv(4096))

        stop = threading.Event()
        listener = threading.Thread(target=accept)
        listener.start()
        try:
            ids = new_ids(5)
            out = tmp_path / "out.jsonl"
            ran = run_batch(["worker-tokens", str(write_csv(tmp_path / "in.csv", ids)),
                             "-o", str(out), "--base-url", api.base_url, "--rate", "500",
                             "--proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}",
                             "--log-format", "json"], cwd=tmp_path)  # fmt: skip
        finally:
            stop.set()
            listener.join()
    assert ran.code == 0, ran.stderr
    assert seen == []  # the org token never crossed to the proxy in clear text
    started = ran.event("run_started")
    assert (started["proxy"], started["proxy_from"]) == ("direct", "loopback host")
    assert len(read_jsonl(out)) == 5
