"""`deel-batch simulate-api`: serve the simulated Deel API on loopback until stopped."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import signal
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import click

from jobs._simulator import SimulatedApi, SimulatorConfig, is_loopback, serve
from jobs._simulator._config import REJECT_ALL_MESSAGE

__all__ = ["simulate_api", "simulated_api"]

_PROBABILITY = click.FloatRange(0.0, 1.0)

_DATE = click.DateTime(formats=["%Y-%m-%d"])

_EPILOG = """\b
Example: serve it, then point deel-batch at it from another shell:
  deel-batch simulate-api --port 8080 --rate 5 --p-503-html 0.05
  DEEL_API_TOKEN=anything deel-batch worker-tokens ids.csv \\
      --base-url http://127.0.0.1:8080/rest/v2
Any non-empty bearer token is accepted. One server keeps its tokens
across runs, so mint, revoke and mint again show the whole lifecycle
(docs/simulator.md).
"""


class _ListenError(click.ClickException):
    """The port cannot be listened on: a one-line error, exit code 2 like other usage errors."""

    exit_code = 2


def _loopback_host(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not is_loopback(value):
        raise click.BadParameter(f"{value!r} is not a loopback address; use 127.0.0.1 or ::1")
    return value


def _profile_ids(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> set[str]:
    try:
        return {str(uuid.UUID(value.strip())) for value in values}
    except ValueError as exc:
        raise click.BadParameter(f"not a profile ID (UUID): {exc}") from None


def _id_files(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> set[str]:
    """The IDs of each file, one a line; blank lines and lines starting with # are skipped."""
    found: set[str] = set()
    for name in values:
        try:
            lines = Path(name).read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {name}: {exc}") from None
        for number, line in enumerate(lines, start=1):
            value = line.strip()
            if not value or value.startswith("#"):
                continue
            try:
                found.add(str(uuid.UUID(value)))
            except ValueError:
                raise click.BadParameter(
                    f"{name} line {number}: {value[:40]!r} is not a profile ID (UUID)"
                ) from None
    return found


def _day(_ctx: click.Context, _param: click.Parameter, value: dt.datetime | None) -> dt.date | None:
    return None if value is None else value.date()


# -h as under `deel-batch`, also when the command runs alone (python -c, a test's runner):
# click keeps the first help option it builds for a command, whichever context asked.
@click.command(
    name="simulate-api", epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=_loopback_host,
    help="Loopback address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Requests admitted per rolling 1-second window; 0 = no limit.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds added before every response.",
)
@click.option("--p-500", type=_PROBABILITY, default=0.0, help="Probability of a 500.")
@click.option(
    "--p-503-html", type=_PROBABILITY, default=0.0, help="Probability of a proxy's 503 HTML page."
)
@click.option(
    "--p-429",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of a spurious 429 (within the rate limit).",
)
@click.option(
    "--p-drop",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of closing the connection with no response.",
)
@click.option(
    "--p-stall",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of holding the response for --stall-seconds.",
)
@click.option(
    "--p-malformed",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of a 201 whose body breaks the schema.",
)
@click.option(
    "--p-mint-then-timeout",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of minting the token, then holding the answer for --stall-seconds.",
)
@click.option(
    "--p-mint-then-reset",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of minting the token, then closing the connection before its body ends.",
)
@click.option(
    "--p-broken-chunked-201",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of minting the token, then cutting its chunked 201 body off.",
)
@click.option(
    "--stall-seconds",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="How long a stalled response is held.",
)
@click.option(
    "--unknown",
    "unknown",
    multiple=True,
    metavar="PROFILE_ID",
    callback=_profile_ids,
    help="Answer 404 for this profile ID (repeatable).",
)
@click.option(
    "--unknown-ids",
    "unknown_files",
    multiple=True,
    metavar="FILE",
    callback=_id_files,
    help="Answer 404 for every ID in FILE, one a line (repeatable).",
)
@click.option(
    "--no-prior-tokens",
    is_flag=True,
    help="An ID this server never minted for has no token to revoke (DELETE: 404).",
)
@click.option(
    "--reject-all",
    is_flag=True,
    help="Answer every request with the same 400, as an API that changed would.",
)
@click.option(
    "--deprecated-since",
    type=_DATE,
    callback=_day,
    metavar="DATE",
    help="Answer as a version deprecated since DATE (YYYY-MM-DD): Deprecation and Sunset headers.",
)
@click.option(
    "--sunset",
    type=_DATE,
    callback=_day,
    metavar="DATE",
    help="The Sunset date sent (default: a year after --deprecated-since).",
)
@click.option(
    "--revoke-after",
    type=click.IntRange(min=0),
    default=None,
    help="After N tokens are issued, answer 401 to everything (a revoked token).",
)
@click.option(
    "--retry-after",
    metavar="VALUE",
    default=None,
    help="Send Retry-After: VALUE on rate-limited 429s and on 503s, as given (the real API sends none).",
)
@click.option("--seed", type=int, default=None, help="Seed for the random faults.")
@click.option(
    "--tls-cert",
    metavar="PEM",
    help="Serve HTTPS with this certificate chain (e.g. from python -m trustme); needs --tls-key.",
)
@click.option("--tls-key", metavar="PEM", help="The private key of --tls-cert.")
def simulate_api(**options: Any) -> None:  # Any: click passes one keyword per option
    """Serve the simulated Deel API until Ctrl-C or SIGTERM: POST /rest/v2/workers/session
    mints a worker token, DELETE /rest/v2/workers/ID/session revokes it.

    It enforces the provider's rate limit on a rolling 1-second window (429 with no
    rate-limit headers), keeps one active token per worker, answers X-Version and
    Idempotency-Key as Deel documents, and injects the faults real servers show, at the
    given rates.
    """
    given = _Options(**options)
    tls = _tls(given.tls_cert, given.tls_key)
    anyio.run(_serve_until_signalled, given.config(), given.host, given.port, tls)


@dataclass(frozen=True)
class _Options:
    """The options of `simulate-api`, as click parsed them."""

    host: str
    port: int
    rate: float
    latency: float
    p_500: float
    p_503_html: float
    p_429: float
    p_drop: float
    p_stall: float
    p_malformed: float
    p_mint_then_timeout: float
    p_mint_then_reset: float
    p_broken_chunked_201: float
    stall_seconds: float
    unknown: set[str]
    unknown_files: set[str]
    no_prior_tokens: bool
    reject_all: bool
    deprecated_since: dt.date | None
    sunset: dt.date | None
    revoke_after: int | None
    retry_after: str | None
    seed: int | None
    tls_cert: str | None
    tls_key: str | None

    def config(self) -> SimulatorConfig:
        since, sunset = self.deprecated_since, self.sunset
        if since is not None and sunset is not None and sunset < since:
            raise click.BadParameter("it comes before --deprecated-since", param_hint="--sunset")
        return SimulatorConfig(
            rate=self.rate or None,
            latency=self.latency,
            p_500=self.p_500,
            p_503_html=self.p_503_html,
            p_429=self.p_429,
            p_drop=self.p_drop,
            p_stall=self.p_stall,
            p_malformed=self.p_malformed,
            stall_seconds=self.stall_seconds,
            unknown_profiles=self.unknown | self.unknown_files,
            revoke_after=self.revoke_after,
            retry_after=self.retry_after,
            seed=self.seed,
            p_mint_then_timeout=self.p_mint_then_timeout,
            p_mint_then_reset=self.p_mint_then_reset,
            p_broken_chunked_201=self.p_broken_chunked_201,
            reject_all=REJECT_ALL_MESSAGE if self.reject_all else None,
            tokens_predate=not self.no_prior_tokens,
            deprecated_since=since,
            sunset=sunset,
        )


def _tls(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise click.UsageError(f"cannot load --tls-cert/--tls-key: {exc}") from None
    return context


async def _serve_until_signalled(
    config: SimulatorConfig, host: str, port: int, tls: ssl.SSLContext | None
) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with serve(config, host=host, port=port, ssl_context=tls) as api:
                limit = "no rate limit" if config.rate is None else f"rate {config.rate:g}/s"
                click.echo(
                    f"simulated Deel API on {api.base_url} ({limit}); Ctrl-C to stop", err=True
                )
                async for _ in signals:
                    break
        except OSError as exc:
            reason = "port already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise _ListenError(f"cannot listen on {host}:{port}: {reason or exc}") from None
    click.echo(_summary(api), err=True)


def _summary(api: SimulatedApi) -> str:
    stats = api.stats
    injected = sum(stats.injected.values())
    return (
        f"simulated Deel API stopped: {stats.requests} requests, {stats.created} tokens, "
        f"{stats.revocations} revoked, {stats.replays} replayed, "
        f"{stats.window_429} rate-limited, {injected} faults injected"
    )


@contextlib.asynccontextmanager
async def simulated_api() -> AsyncIterator[str]:
    """For ``--simulate`` (`DeelApi.simulated_api`, for both jobs): serve a simulated API on
    loopback for the length of a run; yields its base URL."""
    async with serve() as api:
        yield api.base_url
