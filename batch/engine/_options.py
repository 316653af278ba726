"""What one run of the engine is told: the API root, the token, pace and patience.

Checked here, so every front end (the command line, the library, a new job's)
gets the same refusals, as a ValueError with one line.
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass, field

from batch.engine._errors import ConfigError
from batch.engine._policy import Backoff
from batch.engine._proxy import parse_proxy
from batch.engine._quota_store import parse_quota_store
from batch.engine._urls import is_loopback

__all__ = ["EngineOptions", "api_version_problem", "check_base_url", "token_problem"]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How one run talks to the API. Refused at construction (ValueError, one line) when
    a run could not keep its promises with them: see ``__post_init__``.

    The token is sent as the job's `Request` says (a bearer header); it is never
    logged. Front ends name where it came from in ``token_source`` and where the
    base URL came from in ``base_url_source`` (and an explicit proxy in ``proxy_source``),
    so that a refusal says what to check in the caller's own words.
    """

    #: the API root the job's request paths are appended to (https, or http on loopback)
    base_url: str
    #: the API token the job's requests carry
    token: str
    #: starts per rolling second, never more (see batch.engine._pacer)
    rate: float = 5.0
    #: requests in flight at most (and the pool's lanes)
    concurrency: int = 8
    #: attempts per key, the first included
    max_attempts: int = 5
    #: seconds per attempt
    timeout: float = 30.0
    #: the wait between attempts
    backoff: Backoff = field(default_factory=Backoff)
    #: stop (exit 3) when nothing but transient failures came back for this long; 0 = never
    give_up_after: float = 60.0
    #: on stop(), in-flight requests get this long before they are cut off
    grace: float = 5.0
    #: the User-Agent header of every request
    user_agent: str = "batch"
    #: where the token came from, named when the API refuses it ("check <token_source>")
    token_source: str = "the token"  # noqa: S105 - words for a message, not a secret
    #: where the base URL came from, named when nothing is there ("check <base_url_source>")
    base_url_source: str = "the base URL"
    #: forward proxy URL (``http://[USER:PASSWORD@]HOST:PORT``); ``''`` direct; None: from
    #: HTTPS_PROXY / HTTP_PROXY / NO_PROXY as curl reads them (batch/engine/_proxy.py)
    proxy: str | None = field(default=None, repr=False)
    #: where an explicit proxy came from, named in messages ("set by <proxy_source>")
    proxy_source: str = "the proxy setting"
    #: the API version every request asks for (`Call.api_version`); None: the job's own
    #: (`Job.api_version`)
    api_version: str | None = None
    #: where the API version came from, named when the API refuses it ("check <…>")
    api_version_source: str = "the API version"
    #: where the API's rolling window is shared with other runs: "none" (this run
    #: paces itself alone), "local" (every run on this host with the same base URL and
    #: token) or "redis://HOST:PORT/DB" (every run using that Redis); see _quota.py
    quota: str = "none"
    #: requests per second of the API's limit left to other clients (see
    #: batch.engine._controller.ceiling_for): the run never goes above the limit less this
    reserve: float = 0.0

    def __post_init__(self) -> None:
        """Refuse options no run can keep its promises with (ValueError, one line).

        The command line checks the same earlier with friendlier words; this is
        the check every caller of the engine gets (the library's, a new job's).
        """
        try:
            check_base_url(self.base_url, "base_url")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        problem = token_problem(self.token)
        if problem:
            raise ValueError(f"the token {problem}")
        if not (math.isfinite(self.reserve) and self.reserve >= 0):
            raise ValueError(f"reserve must be a number >= 0, not {self.reserve!r}")
        for name, value in (("rate", self.rate), ("timeout", self.timeout)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number greater than 0, not {value!r}")
        if not 1 <= self.concurrency <= 1000:
            raise ValueError(f"concurrency must be 1..1000, not {self.concurrency!r}")
        if not 1 <= self.max_attempts <= 100:
            raise ValueError(f"max_attempts must be 1..100, not {self.max_attempts!r}")
        if self.proxy:
            try:
                parse_proxy(self.proxy, "proxy")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        parse_quota_store(self.quota)
        if self.api_version is not None and api_version_problem(self.api_version):
            raise ValueError(f"api_version {api_version_problem(self.api_version)}")


def api_version_problem(version: str) -> str | None:
    """Why ``version`` cannot be sent as an API version (a header value), or None."""
    if not version.strip():
        return "is empty"
    if not version.isprintable() or not version.isascii() or version != version.strip():
        return f"{version!r} holds spaces, control or non-ASCII characters"
    if len(version) > 64:
        return f"is {len(version)} characters long; at most 64"
    return None


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a bearer token, or None."""
    if not token:
        return "is empty"
    if any(ch.isspace() for ch in token) or not token.isprintable():
        return "holds spaces or control characters"
    return None


def check_base_url(url: str, source: str) -> str:
    """An http(s) URL with a host; plain http only for loopback hosts (the token is sent)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{source} {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{source} {url!r} uses plain http://, allowed only for loopback hosts "
            "(localhost, 127.0.0.1, ::1): the token would travel unencrypted; use https://"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{source} {url!r} must not have a query or fragment")
    return url.strip().rstrip("/")
