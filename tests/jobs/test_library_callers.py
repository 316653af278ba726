"""The library inside other people's code: their loggers, their mistakes, their Ctrl-C, their
``break`` — against the simulated Deel API over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog.testing

from jobs import (
    Failed,
    Issued,
    RunAborted,
    WorkerToken,
    create_worker_tokens,
    create_worker_tokens_sync,
    open_worker_tokens,
)
from jobs._simulator import SimulatedApi, SimulatorConfig, serve
from tests.conftest import StartSim, WatchedApi, on_virtual_time, serve_watched
from tests.jobs.test_library import QUIET_S, settled

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
TOKEN = "org-token-for-the-library"


def ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


# -- logger= ----------------------------------------------------------------

Event = tuple[str, str, dict[str, Any]]  # level, event, fields


class Recorder:
    """A structlog-style logger of one's own."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **fields: self.events.append((level, event, fields))


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _eventful_run(logger: Any) -> tuple[list[WorkerToken], RunAborted]:
    """One ID retried after a 500, one after a 429, an invalid ID, a repeat, a 404, then a
    401 that aborts the run: every kind of event, in a fixed order (one worker). The API is
    served in the test's loop: on virtual time, the backoff waits take no real time."""
    a, b, c, d = ids(4)
    plan = {a: ["500"], b: ["429"], c: ["404"], d: ["401"]}
    got: list[WorkerToken] = []

    async def run(base_url: str) -> None:
        async with open_worker_tokens(
            [a, b, "nope", a, c, d, *ids(20)[4:]],
            token=TOKEN,
            base_url=base_url,
            rate=100,
            concurrency=1,
            logger=logger,
        ) as results:
            async for result in results:  # the abort is raised after the results before it
                got.append(result)

    async with serve(SimulatorConfig(rate=None, plan=plan)) as api:
        with pytest.raises(RunAborted) as caught:
            await run(api.base_url)
    return sorted(got, key=lambda r: r.line), caught.value


@on_virtual_time
async def test_a_stdlib_a_structlog_and_no_logger_get_the_same_events(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # structlog: a bound logger of its own (the global configuration is the command line's)
    capture = structlog.testing.LogCapture()
    bound = structlog.wrap_logger(
        structlog.PrintLogger(),
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    s_results, s_abort = await _eventful_run(bound)
    captured = capture.entries
    from_structlog = [
        (e.pop("log_level"), e.pop("event"), e) for e in (dict(entry) for entry in captured)
    ]
    # the standard library's logging, as most scripts have it
    handler = Collect()
    stdlib = logging.getLogger("mig.test")
    stdlib.addHandler(handler)
    stdlib.setLevel(logging.DEBUG)
    try:
        l_results, l_abort = await _eventful_run(stdlib)
    finally:
        stdlib.removeHandler(handler)
    records = handler.records
    from_stdlib = [(r.levelname.lower(), r.event, r.fields) for r in records]  # type: ignore[attr-defined]
    # a logger of one's own, and none
    recorder = Recorder()
    r_results, _ = await _eventful_run(recorder)
    n_results, n_abort = await _eventful_run(None)

    req_ids: list[list[bool]] = []
    for events in (from_stdlib, from_structlog, recorder.events):
        # what differs from run to run: timings, the API's request ids
        req_ids.append([fields.pop("api_req_id", None) is not None for _, _, fields in events])
        for _, _, fields in events:
            fields.pop("elapsed_ms", None)
    assert from_stdlib == from_structlog == recorder.events
    assert req_ids[0] == req_ids[1] == req_ids[2]
    # (the 429 also changes the rate: when it climbs back depends on the clock)
    changed = [fields["reason"] for _, event, fields in from_stdlib if event == "rate_changed"]
    assert changed[0] == "rate_limited"
    skipped = ("response", "rate_changed")
    shown = [(level, event) for level, event, _ in from_stdlib if event not in skipped]
    assert shown == [
        ("info", "retrying"),
        ("debug", "retrying"),  # a 429
        ("warning", "invalid_row"),
        ("info", "duplicate_id"),
        ("warning", "record_failed"),  # the 404
        ("error", "run_aborted"),  # the 401: its ID gets no record (a re-run redoes it)
    ]
    retrying = [fields for _, event, fields in from_stdlib if event == "retrying"]
    assert [fields["http_status"] for fields in retrying] == [500, 429]
    # the message text carries the fields too, in logfmt style, from the engine's line
    first = next(r for r in records if r.event == "retrying")  # type: ignore[attr-defined]
    assert first.getMessage().startswith(f"retrying key={ids(1)[0]} line=1 attempt=1 kind=http")
    assert "http_status=500 message='Internal server error' api_req_id=" in first.getMessage()
    assert first.pathname.endswith("_retry_loop.py")  # where the retry loop logs, no wrapper
    # the same results and the same abort, whatever the logger
    shape = [(r.profile_id, r.ok, r.error and r.error.kind) for r in l_results]
    assert shape == [(r.profile_id, r.ok, r.error and r.error.kind) for r in s_results]
    assert shape == [(r.profile_id, r.ok, r.error and r.error.kind) for r in r_results]
    assert shape == [(r.profile_id, r.ok, r.error and r.error.kind) for r in n_results]
    assert [kind for _, _, kind in shape] == [None, None, "invalid_input", "http"]
    assert s_abort.reason == l_abort.reason == n_abort.reason
    # no logger: nothing printed anywhere; no secret in any event
    assert capfd.readouterr() == ("", "")
    tokens = [r.token for r in l_results if r.ok]
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in records) + repr(captured)
    assert TOKEN not in text
    assert tokens
    assert not any(token in text for token in tokens)


def test_a_logger_without_logging_methods_is_a_type_error_at_the_call() -> None:
    with pytest.raises(TypeError, match="logger must be"):
        create_worker_tokens(ids(1), token=TOKEN, logger=print)  # type: ignore[arg-type]


# -- arguments --------------------------------------------------------------

BAD_IDS: list[tuple[object, str]] = [
    (ids(1)[0], "not a single str"),
    (ids(1)[0].encode(), "not a single bytes"),
    (None, "not NoneType"),
    (42, "not int"),
]


@pytest.mark.parametrize(("profile_ids", "message"), BAD_IDS)
async def test_a_wrong_input_type_is_a_type_error_at_the_call(
    profile_ids: Any, message: str
) -> None:
    for form in (open_worker_tokens, create_worker_tokens, create_worker_tokens_sync):
        with pytest.raises(TypeError, match=message):
            form(profile_ids, token=TOKEN)  # nothing to await: it raises on the call


async def test_a_token_that_is_not_a_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="token must be a str"):
        open_worker_tokens(ids(1), token=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token": TOKEN, "concurency": 4}, "got an unexpected keyword argument 'concurency'"),
        ({}, "missing 1 required keyword-only argument: 'token'"),
    ],
)
def test_a_misspelt_or_missing_option_is_a_type_error_at_the_call(
    options: dict[str, Any], message: str
) -> None:
    for form in (open_worker_tokens, create_worker_tokens, create_worker_tokens_sync):
        with pytest.raises(TypeError, match=f"^{form.__name__}\\(\\) {message}$"):
            form(ids(1), **options)


def test_the_sync_form_takes_no_session() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'session'"):
        create_worker_tokens_sync(ids(1), token=TOKEN, session=None)  # type: ignore[call-arg]


def test_non_string_items_are_invalid_input_with_a_reason(sim: StartSim) -> None:
    api = sim(rate=None)
    good, other = ids(2)
    given: list[Any] = [good, None, 42, good.encode(), uuid.UUID(other)]
    got = create_worker_tokens_sync(given, token=TOKEN, base_url=api.base_url, rate=100)
    assert [r.line for r in got] == [1, 2, 3, 4, 5]
    assert isinstance(got[0], Issued)
    assert isinstance(got[4], Issued)  # a UUID object, as database drivers return them
    assert got[4].profile_id == other
    reasons = []
    for result in got[1:4]:
        assert isinstance(result, Failed)
        assert result.profile_id == ""  # never "None"
        assert result.error.kind == "invalid_input"
        reasons.append(result.error.message)
    assert reasons == [
        "expected a profile ID string, got None",
        "expected a profile ID string, got int",
        "expected a profile ID string, got bytes",
    ]
    assert set(api.stats.issued) == {good, other}


# -- RunAborted and messages speak to the caller ------------------------------


def test_run_aborted_names_the_token_argument(sim: StartSim) -> None:
    api = sim(rate=None, revoke_after=2)
    with pytest.raises(RunAborted) as caught:
        create_worker_tokens_sync(ids(5), token=TOKEN, base_url=api.base_url, rate=100)
    reason = caught.value.reason
    assert reason.startswith("the API refused the token (HTTP 401")
    assert "check the token argument (it must be an organization token" in reason
    assert "DEEL_API_TOKEN" not in reason
    assert "--" not in reason
    assert [r.ok for r in caught.value.results] == [True, True]


async def test_a_cut_off_request_is_an_aborted_result_in_the_callers_words(
    sim: StartSim,
) -> None:
    api = sim(rate=None, latency=30)  # answers that never come in time
    got: list[WorkerToken] = []
    with anyio.fail_after(10):
        async with open_worker_tokens(
            ids(2), token=TOKEN, base_url=api.base_url, rate=100, concurrency=2
        ) as results:
            for _ in range(1000):  # until both requests are in flight
                if api.stats.requests == 2:
                    break
                await anyio.sleep(0.01)
            results.stop(grace=0)
            got = [result async for result in results]
    assert len(got) == 2
    for result in got:
        assert isinstance(result, Failed)
        assert result.error.kind == "aborted"
        assert result.error.message == (
            "request cut off by the shutdown; the API may or may not have acted on it"
        )


# -- leaving early: break, cancellation -----------------------------------------


@pytest.fixture
async def watched() -> AsyncIterator[WatchedApi]:
    """The simulated API in the test's own event loop: on virtual time its latency costs no
    real time, and its connections are tasks of that loop (see `settled`)."""
    async with serve_watched(SimulatorConfig(rate=None)) as api:
        yield api


@on_virtual_time
async def test_a_plain_break_out_of_the_generator_is_safe(
    watched: WatchedApi, capfd: pytest.CaptureFixture[str]
) -> None:
    watched.config.latency = 0.05
    before = asyncio.all_tasks()
    got: list[WorkerToken] = []
    with anyio.fail_after(5):
        async for result in create_worker_tokens(
            ids(200), token=TOKEN, base_url=watched.base_url, rate=100, concurrency=4
        ):
            got.append(result)
            if len(got) == 5:
                break
    await settled(before)  # the run and its connections are gone: what was on the wire landed
    sent = watched.stats.requests
    await anyio.sleep(QUIET_S)  # virtual: a long quiet time passes at once
    assert watched.stats.requests == sent  # nothing goes on in the background
    assert watched.open_connections == 0
    assert sent < 20
    assert len(got) == 5
    assert capfd.readouterr().err == ""  # no "exit cancel scope in a different task"


async def test_the_generator_raises_run_aborted_after_its_results(sim: StartSim) -> None:
    api = sim(rate=None, revoke_after=3)
    got: list[WorkerToken] = []

    async def run() -> None:
        async for result in create_worker_tokens(
            ids(30), token=TOKEN, base_url=api.base_url, rate=100, concurrency=1
        ):
            got.append(result)

    with anyio.fail_after(10), pytest.raises(RunAborted, match="check the token argument"):
        await run()
    assert [r.ok for r in got] == [True] * 3


@on_virtual_time
@pytest.mark.parametrize("form", ["open", "generator"])
async def test_a_cancelled_caller_leaves_nothing_running(watched: WatchedApi, form: str) -> None:
    watched.config.latency = 0.5  # requests are in flight when the caller is cancelled
    before = asyncio.all_tasks()
    got: list[WorkerToken] = []
    options: dict[str, Any] = {"token": TOKEN, "base_url": watched.base_url, "rate": 100}
    with anyio.move_on_after(0.8) as scope:
        if form == "open":
            async with open_worker_tokens(ids(100), **options) as results:
                async for result in results:
                    got.append(result)
        else:
            async for result in create_worker_tokens(ids(100), **options):
                got.append(result)
    assert scope.cancelled_caught
    await settled(before)  # the run and its connections are gone: what was on the wire landed
    sent = watched.stats.requests
    await anyio.sleep(QUIET_S)  # virtual: a long quiet time passes at once
    assert watched.stats.requests == sent
    assert watched.open_connections == 0
    assert 0 < len(got) < sent


@on_virtual_time
async def test_stop_lets_requests_in_flight_finish(watched: WatchedApi) -> None:
    watched.config.latency = 0.3
    got: list[WorkerToken] = []
    with anyio.fail_after(5):
        async with open_worker_tokens(
            ids(100), token=TOKEN, base_url=watched.base_url, rate=100, concurrency=4
        ) as results:
            async for result in results:
                got.append(result)
                if len(got) == 1:
                    results.stop()
    assert all(r.ok for r in got)
    assert len(got) == watched.stats.requests  # each request sent gave its result
    assert len(got) <= 1 + 2 * 4


# -- Ctrl-C in the sync form, on a real process ----------------------------------

SCRIPT = """
import json, logging, sys
from jobs import RunInterrupted, create_worker_tokens_sync

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
ids = [line.strip() for line in open(sys.argv[2])]
print("started", flush=True)
{body}
"""

CAUGHT = """
try:
    create_worker_tokens_sync(ids, token="t", base_url=sys.argv[1], rate=100, concurrency=4,
                              logger=logging.getLogger("mig"))
except RunInterrupted as exc:
    kinds = [r.error.kind if r.error else "ok" for r in exc.results]
    print(json.dumps({"results": len(kinds), "ok": kinds.count("ok"),
                      "aborted": kinds.count("aborted"), "message": str(exc)}))
    sys.exit(130)
"""


def _interrupt(
    tmp_path: Path, api: SimulatedApi, body: str, *, signals: int, in_flight: int = 8
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the script over 200 IDs; once ``in_flight`` requests reached the API, Ctrl-C it
    ``signals`` times. Returns what it did, and how long it took after the first Ctrl-C."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(body=textwrap.dedent(body)))
    (tmp_path / "ids.txt").write_text("\n".join(ids(200)) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        [sys.executable, str(script), api.base_url, str(tmp_path / "ids.txt")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        deadline = time.monotonic() + 20
        while api.stats.requests < in_flight:
            assert time.monotonic() < deadline, "the script sent nothing"
            time.sleep(0.01)
        signalled = time.monotonic()
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - signalled
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), took


@pytest.mark.slow
def test_ctrl_c_in_the_sync_form_keeps_every_result_obtained(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, latency=0.3)
    done, took = _interrupt(tmp_path, api, CAUGHT, signals=1)  # while 8+ requests are in flight
    assert done.returncode == 130, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    # the requests in flight finished within the grace: each request sent gave its result
    assert report["results"] == report["ok"] == api.stats.requests
    assert report["aborted"] == 0
    assert report["message"] == f"interrupted: {report['results']} results obtained, " + (
        f"{report['ok']} tokens issued"
    )
    assert took < 3
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_second_ctrl_c_cuts_requests_in_flight_off(sim: StartSim, tmp_path: Path) -> None:
    api = sim(rate=None, latency=10)  # far longer than the test: only a cut-off ends them
    body = CAUGHT.replace("concurrency=4", "concurrency=4, grace=30")
    done, took = _interrupt(tmp_path, api, body, signals=2, in_flight=4)
    assert done.returncode == 130, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == report | {"results": 4, "ok": 0, "aborted": 4}
    assert took < 3


@pytest.mark.slow
def test_an_uncaught_interrupt_ends_the_script_with_a_traceback(
    sim: StartSim, tmp_path: Path
) -> None:
    api = sim(rate=None, latency=0.3)
    body = """
        try:
            create_worker_tokens_sync(ids, token="t", base_url=sys.argv[1], rate=100)
        except Exception:  # a KeyboardInterrupt is not swallowed by this
            print("swallowed")
    """
    done, _ = _interrupt(tmp_path, api, body, signals=1)
    # Python gives the status of SIGINT (130) only to a plain KeyboardInterrupt; a subclass
    # left uncaught ends the script with a traceback and 1 (the README says to catch it)
    assert done.returncode == 1
    assert "swallowed" not in done.stdout
    assert done.stderr.splitlines()[-1].startswith(
        "jobs._library._types.RunInterrupted: interrupted: "
    )
