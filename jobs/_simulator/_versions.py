"""API versions: which `X-Version` values are published, and what an answer says about them.

Deel's "API versioning" page (https://developer.deel.com/api/api-versioning): versions are
dates sent as `X-Version: YYYY-MM-DD`; the current stable version is 2026-01-01, expected
to be deprecated on 1 Jan 2027; a deprecated version keeps working for one year, then is
retired; omitting the header routes to a stable version; beta versions need
`X-Beta: true`; "sending an X-Version value that does not match any published version for
the endpoint returns a 400 error. The API does not negotiate or suggest alternative
versions"; "response headers communicate the lifecycle state of the version you called".

Where the stored copy of that page stops short (the names of those response headers), the
simulator chooses, and says so in docs/simulator.md: every answer of the API names the
version that served it in `X-Version` and its state in `X-Version-Status` (`beta`,
`stable` or `deprecated`); a deprecated version's answers also carry the standard
`Deprecation: @<unix seconds>` (RFC 9745), `Sunset: <HTTP-date>` (RFC 8594; one year after
the deprecation unless set) and `Link: <…>; rel="deprecation"`. A stable version's expected
deprecation date is data here, not a header: it is an expectation, not a schedule, and a
client warned about it on every call would learn to ignore the warning.

Pure: no clock; the dates are configuration.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

__all__ = [
    "BETA_HEADER",
    "DEFAULT_VERSION",
    "STATES",
    "STATUS_HEADER",
    "VERSION_HEADER",
    "Called",
    "PublishedVersion",
    "VersionSettings",
    "check",
    "default_versions",
    "headers",
    "resolve",
]

VERSION_HEADER: Final = "X-Version"
STATUS_HEADER: Final = "X-Version-Status"
BETA_HEADER: Final = "X-Beta"
DEFAULT_VERSION: Final = "2026-01-01"
STATES: Final = ("beta", "stable", "deprecated")
_DOCS: Final = "https://developer.deel.com/api/api-versioning"
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHOWN: Final = 40  # characters of a bad X-Version value quoted back


@dataclass(frozen=True)
class PublishedVersion:
    """One published version. `deprecation`: when it was deprecated (state `deprecated`),
    or when that is expected (`stable`); `sunset`: when it stops working (deprecated only;
    default one year after `deprecation`)."""

    state: str = "stable"
    deprecation: dt.date | None = None
    sunset: dt.date | None = None


def default_versions() -> dict[str, PublishedVersion]:
    """What Deel publishes today: 2026-01-01, stable, deprecation expected 2027-01-01."""
    return {DEFAULT_VERSION: PublishedVersion("stable", deprecation=dt.date(2027, 1, 1))}


@dataclass(frozen=True)
class Called:
    """The version an answer was given in, with the dates its headers carry."""

    version: str
    state: str
    deprecation: dt.date | None = None  # set only when state is "deprecated"
    sunset: dt.date | None = None


class VersionSettings(Protocol):
    """What decides the version of an answer (`SimulatorConfig` has these fields)."""

    @property
    def versions(self) -> Mapping[str, PublishedVersion]: ...  # the published ones
    @property
    def default_version(self) -> str: ...  # what a request without X-Version gets
    @property
    def deprecated_since(self) -> dt.date | None: ...  # makes every called version deprecated
    @property
    def sunset(self) -> dt.date | None: ...  # the Sunset of the called version


def check(settings: VersionSettings) -> None:
    """Raise ValueError for version settings the simulator cannot serve."""
    for name, published in settings.versions.items():
        if not _is_date(name):
            raise ValueError(f"published version {name!r} is not a date (YYYY-MM-DD)")
        if published.state not in STATES:
            raise ValueError(f"version {name}: state {published.state!r}; known: {STATES}")
        if published.state == "deprecated" and published.deprecation is None:
            raise ValueError(f"version {name} is deprecated: say since when (deprecation=)")
    if settings.default_version not in settings.versions:
        known = sorted(settings.versions)
        raise ValueError(f"default version {settings.default_version!r} is not among {known}")
    since, sunset = settings.deprecated_since, settings.sunset
    if since is not None and sunset is not None and sunset < since:
        raise ValueError(f"sunset {sunset} is before the deprecation {since}")


def resolve(requested: str | None, beta: str | None, settings: VersionSettings) -> Called | str:
    """The version a request is answered in, or the message of its 400.

    `requested` and `beta` are the `X-Version` and `X-Beta` header values (None: absent).
    `settings.deprecated_since` (and `.sunset`) make whichever version is called
    deprecated, as `simulate-api --deprecated-since` does.
    """
    name = settings.default_version if requested is None else requested.strip()
    published = settings.versions.get(name)
    if published is None:
        shown = name if len(name) <= _SHOWN else name[:_SHOWN] + "…"
        return f"X-Version {shown!r} does not match any published version of this endpoint"
    if published.state == "beta" and (beta or "").strip().lower() != "true":
        return f"X-Version {name} is a beta version: send X-Beta: true to call it"
    since = settings.deprecated_since
    if since is None and published.state == "deprecated":
        since = published.deprecation
    sunset = settings.sunset
    if since is None:
        return Called(name, published.state, sunset=sunset)
    return Called(name, "deprecated", since, sunset or published.sunset or _a_year_after(since))


def headers(called: Called) -> dict[str, str]:
    """The response headers that tell the lifecycle state of the version called."""
    out = {VERSION_HEADER: called.version, STATUS_HEADER: called.state}
    if called.deprecation is not None:
        out["Deprecation"] = f"@{int(_midnight(called.deprecation).timestamp())}"
        out["Link"] = f'<{_DOCS}>; rel="deprecation"'
    if called.sunset is not None:
        out["Sunset"] = email.utils.format_datetime(_midnight(called.sunset), usegmt=True)
    return out


def _is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _midnight(day: dt.date) -> dt.datetime:
    if isinstance(day, dt.datetime):
        return day if day.tzinfo is not None else day.replace(tzinfo=dt.UTC)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _a_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)
