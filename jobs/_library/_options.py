"""The options every library entry point takes, once: `RunOptions` (and `AsyncRunOptions`).

An entry point takes them as keyword arguments (``**options: Unpack[RunOptions]``), so a
call reads ``open_worker_tokens(ids, token=t, rate=2)`` and mypy checks each name and type;
`checked` applies the defaults and refuses, at the call, what no run could use. Nothing
here is about one job: a new job's entry points take the same options.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypedDict

import aiohttp

from batch import EngineOptions, Job, Logger, as_logger, user_agent

__all__ = ["AnyLogger", "AsyncRunOptions", "Checked", "RunOptions", "checked", "checked_async"]

#: What ``logger=`` accepts (None: log nothing). ``Any``: what a LoggerAdapter adapts.
AnyLogger: TypeAlias = "Logger | logging.Logger | logging.LoggerAdapter[Any] | None"


class _Required(TypedDict):
    # Required by totality, not Required[...]: a string annotation hides that at run time.
    token: str


class RunOptions(_Required, total=False):
    """The options of a run, as keyword arguments; all but ``token`` have defaults.

    - ``token`` (required): the API token.
    - ``base_url``: the API root (default: the job's, production).
    - ``rate`` (5.0): requests started per rolling second, at most.
    - ``concurrency`` (8): requests in flight, at most.
    - ``max_attempts`` (5): attempts per ID, the first included (429 answers do not count).
    - ``timeout`` (30.0): seconds per attempt.
    - ``grace`` (5.0): seconds requests in flight may finish after a stop or an abort.
    - ``proxy`` (None): a forward proxy URL, ``''`` direct; None: HTTPS_PROXY and NO_PROXY
      as curl reads them.
    - ``quota`` ("local"): where the API's rolling window is shared with other runs, as
      --quota-store: "local" (every run on this host with the same token and base URL),
      "redis://HOST:PORT/DB", or "none".
    - ``api_version`` (the job's, e.g. "2026-01-01"): the API version every request asks
      for (the worker-tokens job sends it as ``X-Version``).
    - ``logger`` (None): a `logging.Logger`, a `logging.LoggerAdapter` or a structlog-style
      logger, for the engine's events; None logs nothing.
    """

    base_url: str
    rate: float
    concurrency: int
    max_attempts: int
    timeout: float
    grace: float
    proxy: str | None
    quota: str
    api_version: str
    logger: AnyLogger


class AsyncRunOptions(RunOptions, total=False):
    """`RunOptions`, and for the async forms ``session``: an `aiohttp.ClientSession` to
    use and leave open (its connector then bounds connections; None: the run's own)."""

    session: aiohttp.ClientSession | None


@dataclass(frozen=True, slots=True)
class Checked:
    """One call's options, checked: what the engine is started with."""

    options: EngineOptions
    session: aiohttp.ClientSession | None
    log: Logger


def checked(job: Job, ids: object, options: RunOptions, *, call: str) -> Checked:
    """The arguments of one call to the sync form ``call``, checked now (see `checked_async`)."""
    _refuse_unknown(call, options, RunOptions)
    return _checked(job, ids, options, None)


def checked_async(job: Job, ids: object, options: AsyncRunOptions, *, call: str) -> Checked:
    """The arguments of one call to ``call``, checked now, so that a mistake shows at the
    call: TypeError for a wrong type or an unknown option, ValueError for a bad value
    (EngineOptions refuses those). ``ids`` is the iterable of the job's keys."""
    _refuse_unknown(call, options, AsyncRunOptions)
    return _checked(job, ids, options, options.get("session"))


def _refuse_unknown(call: str, given: Mapping[str, object], form: type[RunOptions]) -> None:
    """What Python says of a keyword argument a function does not take, or lacks."""
    names = vars(form)  # a TypedDict keeps its keys there, its bases' included
    for name in given:
        if name not in names["__required_keys__"] | names["__optional_keys__"]:
            raise TypeError(f"{call}() got an unexpected keyword argument {name!r}")
    for name in sorted(names["__required_keys__"] - set(given)):
        raise TypeError(f"{call}() missing 1 required keyword-only argument: {name!r}")


def _check_ids(job: Job, ids: object) -> None:
    name = f"{job.key_name}s"  # profile_ids
    what = job.key_name.replace("_", " ").removesuffix(" id") + " IDs"  # profile IDs
    if isinstance(ids, str | bytes | bytearray):
        raise TypeError(
            f"{name} must be an iterable of {what}, not a single {type(ids).__name__}"
            f" (for one ID, pass [{job.key_name}])"
        )
    if not isinstance(ids, Iterable | AsyncIterable):
        raise TypeError(
            f"{name} must be an iterable or async iterable of {what}, not {type(ids).__name__}"
        )


def _checked(job: Job, ids: object, options: RunOptions, session: object) -> Checked:
    _check_ids(job, ids)
    token: object = options["token"]
    if not isinstance(token, str):
        raise TypeError(f"token must be a str, not {type(token).__name__}")
    if session is not None and not isinstance(session, aiohttp.ClientSession):
        raise TypeError(f"session must be an aiohttp.ClientSession, not {type(session).__name__}")
    log = as_logger(options.get("logger"))
    grace = options.get("grace", 5.0)
    if not (isinstance(grace, int | float) and grace >= 0):
        raise ValueError(f"grace must be a number of seconds >= 0, not {grace!r}")
    engine_options = EngineOptions(
        base_url=options.get("base_url", job.default_base_url),
        token=token.strip(),
        rate=options.get("rate", 5.0),
        concurrency=options.get("concurrency", 8),
        max_attempts=options.get("max_attempts", 5),
        timeout=options.get("timeout", 30.0),
        grace=grace,
        user_agent=user_agent("library"),
        token_source="the token argument",  # noqa: S106 - words for a message
        base_url_source="the base_url argument",
        proxy=options.get("proxy"),
        proxy_source="the proxy argument",
        quota=options.get("quota", "local"),
        api_version=options.get("api_version", job.api_version),
        api_version_source="the api_version argument",
    )
    return Checked(engine_options, session, log)
