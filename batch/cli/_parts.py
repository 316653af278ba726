"""What runs, built for one run: the engine (against the simulated API with --simulate),
the items it takes, the writer, the progress reporter."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio.to_thread

from batch._distribution import user_agent
from batch.cli._context import Run
from batch.cli._credentials import Access
from batch.cli._dry_run import rate_above_documented
from batch.cli._progress import Reporter
from batch.cli._settings import Settings
from batch.cli._startup import Outputs
from batch.engine import Backoff, ConfigError, EngineOptions, Job
from batch.input import BATCH, InputInfo, RowItems, Rows
from batch.output import CurrentTokens, Writer

if TYPE_CHECKING:
    from batch.engine import Engine

__all__ = ["Parts", "build_parts", "engine_for"]


@contextlib.asynccontextmanager
async def engine_for(run: Run, access: Access, read: InputInfo) -> AsyncIterator[Engine]:
    """The engine, against the simulated API (served here, for the run) with --simulate;
    the run_started event says where it calls."""
    # Here, not at the top: the engine brings aiohttp, which --dry-run does not need.
    from batch.engine import Engine  # noqa: PLC0415

    async with contextlib.AsyncExitStack() as serving:
        base_url = access.base_url
        if base_url is None:
            base_url = await serving.enter_async_context(_simulator(run.job))
        options = _engine_options(run.job, run.settings, base_url, access.token)
        engine = Engine(run.job, options, stats=run.stats, logger=run.log)
        _say_started(run, engine, base_url, read)
        yield engine


@dataclass(frozen=True, slots=True)
class Parts:
    """What runs, once built: the engine, the items it takes, where results go."""

    engine: Engine
    items: RowItems
    writer: Writer
    reporter: Reporter
    #: the input's data lines, counted at the start (None: not cheap to count)
    total: int | None
    #: the current token of each ID, as the results file held it and this run changes it
    current: CurrentTokens


async def build_parts(run: Run, rows: Rows, outputs: Outputs, engine: Engine) -> Parts:
    """The items (the IDs --resume found still ok are skipped) and the progress reporter."""
    s = run.settings
    items = RowItems(
        rows,
        run.job,
        stats=run.stats,
        log=run.log,
        skip_keys=outputs.still_ok,
        # A pipe may bring rows slowly: hand each on at once, not 1024 at a time.
        batch=1 if s.input == "-" else BATCH,
        abandon=s.input == "-",
        limit=s.limit,
    )
    total = await anyio.to_thread.run_sync(rows.total)
    shown = total if s.limit is None or total is None else min(total, s.limit)
    reporter = Reporter(run.stats, run.log, s, bar=run.progress_bar, total=shown)
    return Parts(engine, items, outputs.writer, reporter, total, outputs.still_ok)


def _say_started(run: Run, engine: Engine, base_url: str, read: InputInfo) -> None:
    s = run.settings
    run.log.info(
        "run_started",
        job=run.job.name,
        input=s.input,
        output=s.output,
        base_url=base_url,
        rate=s.rate,
        concurrency=s.concurrency,
        resume=s.resume,
        proxy=engine.route.label,  # never its credentials
        proxy_from=engine.route.reason,
        simulated=s.simulate,
        quota_store=engine.stats.quota_store,
        **read.as_event(),
    )
    if (above := rate_above_documented(run.job, s.rate)) is not None:
        run.log.warning("rate_above_documented_limit", message=above)


def _engine_options(job: Job, s: Settings, base_url: str, token: str) -> EngineOptions:
    return EngineOptions(
        base_url=base_url,
        token=token,
        rate=s.rate,
        concurrency=s.concurrency,
        max_attempts=s.max_attempts,
        timeout=s.timeout,
        backoff=Backoff(base=s.backoff_base, cap=s.backoff_cap),
        give_up_after=s.give_up_after,
        grace=s.grace,
        user_agent=user_agent(),
        token_source=f"--token-file {s.token_file!r}" if s.token_file else job.token_env,
        base_url_source=f"--base-url (or {job.base_url_env})" if s.base_url else "the default URL",
        proxy="" if s.no_proxy else s.proxy,
        proxy_source="--no-proxy" if s.no_proxy else "--proxy",
        quota=s.quota_store,
        reserve=s.reserve,
        api_version=s.api_version,
        api_version_source=f"--api-version (or {job.api_version_env}; this run asked for "
        f"{s.api_version})",
    )


def _simulator(job: Job) -> contextlib.AbstractAsyncContextManager[str]:
    simulated = job.simulated_api()
    if simulated is None:
        raise ConfigError(f"--simulate: the {job.name} job has no simulated API")
    return simulated
