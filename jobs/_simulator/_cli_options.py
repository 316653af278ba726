"""What `simulate-api`'s options hold, as click parses them, and the server configuration
they make."""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path

import click

from batch import is_loopback
from jobs._simulator._config import REJECT_ALL_MESSAGE, SimulatorConfig

__all__ = [
    "DATE",
    "PROBABILITY",
    "Options",
    "day",
    "id_files",
    "loopback_host",
    "profile_ids",
    "tls",
]

PROBABILITY = click.FloatRange(0.0, 1.0)

DATE = click.DateTime(formats=["%Y-%m-%d"])


def loopback_host(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not is_loopback(value):
        raise click.BadParameter(f"{value!r} is not a loopback address; use 127.0.0.1 or ::1")
    return value


def profile_ids(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> set[str]:
    try:
        return {str(uuid.UUID(value.strip())) for value in values}
    except ValueError as exc:
        raise click.BadParameter(f"not a profile ID (UUID): {exc}") from None


def id_files(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> set[str]:
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


def day(_ctx: click.Context, _param: click.Parameter, value: dt.datetime | None) -> dt.date | None:
    return None if value is None else value.date()


@dataclass(frozen=True)
class Options:
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


def tls(cert: str | None, key: str | None) -> ssl.SSLContext | None:
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
