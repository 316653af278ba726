"""How option values are read and checked: click types and callbacks, and durations.

A wrong value is a usage error (exit 2) that names the option, raised by click before
anything else runs; each message here is the one line the user reads.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

import click
from click.core import ParameterSource

from batch.engine import ConfigError, parse_proxy, parse_quota_store

__all__ = [
    "MAX_DURATION_S",
    "POSITIVE",
    "api_version",
    "column_names",
    "delimiter",
    "duration",
    "no_proxy",
    "parse_duration",
    "proxy",
    "quota_store",
]

MAX_DURATION_S = 366 * 24 * 3600
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_duration(text: str) -> timedelta:
    """``90m``, ``2h``, ``1h30m``, ``45s``, ``1d``; a bare number is minutes. At most a year."""
    value = text.strip().lower()
    not_a_duration = ValueError(f"{text!r} is not a duration (examples: 90m, 2h, 1h30m)")
    too_long = ValueError(f"{text!r} is too long: at most a year (366d)")
    if len(value) > 40:
        raise too_long if re.fullmatch(r"[0-9dhms]+", value) else not_a_duration
    if value.isascii() and value.isdigit():
        seconds = int(value) * 60
    else:
        match = _DURATION.fullmatch(value)
        if not value or match is None or not any(match.groups()):
            raise not_a_duration
        days, hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds > MAX_DURATION_S:
        raise too_long
    return timedelta(seconds=seconds)


class _Positive(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A finite number > 0 (click's FloatRange lets NaN through and prints its bounds in --help)."""

    name = "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} must be a number greater than 0", param, ctx)
        return number


#: ``--rate``, ``--timeout``, ...: a finite number greater than 0
POSITIVE = _Positive()


def duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def proxy(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if ctx.params.get("no_proxy") and value.strip():
        raise click.BadParameter("--proxy URL and --no-proxy contradict each other: choose one")
    if value.strip():
        try:
            parse_proxy(value, "--proxy")
        except ConfigError as exc:  # the message shows the URL without its credentials
            raise click.BadParameter(str(exc)) from None
    return value


def no_proxy(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value and (ctx.params.get("proxy") or "").strip():
        raise click.BadParameter("--proxy URL and --no-proxy contradict each other: choose one")
    return value


def column_names(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(name.strip() for name in value.split(","))
    if not all(names):
        raise click.BadParameter(f"{value!r}: column names separated by commas, none empty")
    if len(set(names)) < len(names):
        raise click.BadParameter(f"{value!r} names a column twice")
    return names


def delimiter(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    char = {"tab": "\t", "\\t": "\t"}.get(value.lower(), value)
    if len(char) != 1 or char in '\r\n"':
        raise click.BadParameter(f"{value!r} is not one character (examples: ';', '|', tab)")
    return char


def api_version(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A date, ``YYYY-MM-DD``: the API version every request asks for."""
    if value is None:
        return None
    text = value.strip()
    try:
        ok = bool(_DATE.fullmatch(text)) and date.fromisoformat(text).isoformat() == text
    except ValueError:
        ok = False
    if not ok:
        from_env = param.name is not None and (
            ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT
        )
        env = f" (from {param.envvar})" if from_env and isinstance(param.envvar, str) else ""
        raise click.BadParameter(
            f"{value!r}{env} is not an API version: a date, YYYY-MM-DD (e.g. 2026-01-01)"
        )
    return text


def quota_store(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return parse_quota_store(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
