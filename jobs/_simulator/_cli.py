"""`deel-batch simulate-api`: serve the simulated Deel API on loopback until stopped."""

from __future__ import annotations

import contextlib
import errno
import signal
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import click

from jobs._simulator import SimulatedApi, SimulatorConfig, serve
from jobs._simulator._cli_options import (
    DATE,
    PROBABILITY,
    Options,
    day,
    id_files,
    loopback_host,
    profile_ids,
    tls,
)

__all__ = ["simulate_api", "simulated_api"]

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


# -h as under `deel-batch`, also when the command runs alone (python -c, a test's runner):
# click keeps the first help option it builds for a command, whichever context asked.
@click.command(
    name="simulate-api", epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=loopback_host,
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
@click.option("--p-500", type=PROBABILITY, default=0.0, help="Probability of a 500.")
@click.option(
    "--p-503-html", type=PROBABILITY, default=0.0, help="Probability of a proxy's 503 HTML page."
)
@click.option(
    "--p-429",
    type=PROBABILITY,
    default=0.0,
    help="Probability of a spurious 429 (within the rate limit).",
)
@click.option(
    "--p-drop",
    type=PROBABILITY,
    default=0.0,
    help="Probability of closing the connection with no response.",
)
@click.option(
    "--p-stall",
    type=PROBABILITY,
    default=0.0,
    help="Probability of holding the response for --stall-seconds.",
)
@click.option(
    "--p-malformed",
    type=PROBABILITY,
    default=0.0,
    help="Probability of a 201 whose body breaks the schema.",
)
@click.option(
    "--p-mint-then-timeout",
    type=PROBABILITY,
    default=0.0,
    help="Probability of minting the token, then holding the answer for --stall-seconds.",
)
@click.option(
    "--p-mint-then-reset",
    type=PROBABILITY,
    default=0.0,
    help="Probability of minting the token, then closing the connection before its body ends.",
)
@click.option(
    "--p-broken-chunked-201",
    type=PROBABILITY,
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
    callback=profile_ids,
    help="Answer 404 for this profile ID (repeatable).",
)
@click.option(
    "--unknown-ids",
    "unknown_files",
    multiple=True,
    metavar="FILE",
    callback=id_files,
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
    type=DATE,
    callback=day,
    metavar="DATE",
    help="Answer as a version deprecated since DATE (YYYY-MM-DD): Deprecation and Sunset headers.",
)
@click.option(
    "--sunset",
    type=DATE,
    callback=day,
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
    given = Options(**options)
    context = tls(given.tls_cert, given.tls_key)
    anyio.run(_serve_until_signalled, given.config(), given.host, given.port, context)


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
