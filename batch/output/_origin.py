"""Where a results file's records came from: an API root and the API token used, or a simulator.

Every record carries ``origin``: ``AAAAAAAA-TTTTTTTTTTTT``, a keyed hash of the base URL
(8 hex digits) and one of the base URL with the token (12), or ``simulated``. It tells
records of one API and token from those of another without holding either secret: the
token cannot be recovered from it, and the same pair always gives the same origin. So
``--resume`` can refuse to mix into a file records of the simulator or of another API,
and tell a file written with this API and an earlier API token (a rotation,
`check_origins`). A loopback API (a local simulator or test server) is one origin
whatever its port.

Files written before records carried an origin are accepted as they are. Version 0.2.0
stamped 16 hex digits, a keyed hash of the pair alone (`legacy_origin_of`): such a record
is this run's when it matches this run's pair; when it does not, its base URL cannot be
told, and the file is a rotation only if records of this base URL in the new form vouch
for it (a run of this version at this base URL accepted those old records before).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from typing import NamedTuple

from batch.engine import ConfigError, is_loopback

__all__ = [
    "SIMULATED",
    "Origin",
    "check_origins",
    "describe_mismatch",
    "legacy_origin_of",
    "origin_for",
    "origin_of",
]

SIMULATED = "simulated"
_LEGACY_KEY = b"batch/results-origin/v1"
_KEY = b"batch/results-origin/v2"
_STAMP = re.compile(r"([0-9a-f]{8})-[0-9a-f]{12}")
_LEGACY = re.compile(r"[0-9a-f]{16}")


class Origin(NamedTuple):
    """A run's origin: the stamp its records get, and the stamps earlier versions gave the
    same base URL and token (a file they wrote holds this run's records)."""

    stamp: str
    earlier: frozenset[str] = frozenset()


def origin_for(base_url: str, token: str, *, simulated: bool = False) -> Origin:
    """The origin of records made with ``token`` against ``base_url``."""
    if simulated:
        return Origin(SIMULATED)
    root = _root(base_url)
    api = _mac(_KEY, f"api\n{root}")[:8]
    pair = _mac(_KEY, f"token\n{root}\n{token}")[:12]
    return Origin(f"{api}-{pair}", frozenset({legacy_origin_of(base_url, token)}))


def origin_of(base_url: str, token: str, *, simulated: bool = False) -> str:
    """The stamp of records made with ``token`` against ``base_url``."""
    return origin_for(base_url, token, simulated=simulated).stamp


def legacy_origin_of(base_url: str, token: str) -> str:
    """The stamp version 0.2.0 gave records made with ``token`` against ``base_url``."""
    return _mac(_LEGACY_KEY, f"{_root(base_url)}\n{token}")[:16]


def _root(base_url: str) -> str:
    root = base_url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(root)
    if parts.hostname and is_loopback(parts.hostname):
        # A server on this machine (a local simulator, a test server) is one API whatever
        # port it got this time.
        root = urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname))
    return root


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _api_of(stamp: str) -> str | None:
    """The base URL part of a stamp of this version; None for another kind of stamp."""
    found = _STAMP.fullmatch(stamp)
    return found.group(1) if found else None


def check_origins(path: str, found: set[str], origin: Origin) -> bool:
    """Whether a results file whose records carry the origins ``found`` may be resumed by a
    run of ``origin``: False when they are all this run's, True when some were made with
    this base URL and another token (a rotation: the caller starts the file over).
    ConfigError for the simulator's records in a real file (or the other way round), for
    another base URL's, and for 0.2.0 stamps nothing vouches for."""
    foreign = sorted(found - {origin.stamp} - origin.earlier)
    if not foreign:
        return False
    this = origin.stamp
    for stamp in foreign:
        if SIMULATED in (stamp, this) or _api_of(this) is None:
            raise ConfigError(describe_mismatch(path, stamp, this))
    api = _api_of(this)
    for stamp in foreign:
        if _api_of(stamp) not in (api, None):
            raise ConfigError(describe_mismatch(path, stamp, this))
    vouched = any(_api_of(stamp) == api for stamp in found)
    unknown = [stamp for stamp in foreign if _api_of(stamp) is None]
    if unknown and not vouched:
        raise ConfigError(_unvouched(path, unknown[0], this))
    return True


def _unvouched(path: str, found: str, this: str) -> str:
    return (
        f"--resume: {path!r} holds tokens made with another API token, stamped by an "
        f"earlier version (origin {found}), which does not say which base URL made them: "
        "if the API token was rotated, run once with --overwrite instead of "
        "--resume (the old records are kept in "
        f"{path + '.prev'!r} until that run finishes), and later rotations heal by "
        f"themselves; else use another --output (nothing was changed; {this} for this "
        "base URL and token)"
    )


def describe_mismatch(path: str, found: str, this: str) -> str:
    """One line: why records of origin ``found`` cannot be resumed by a run of ``this``."""
    tail = "use another --output, or --overwrite to start it over (nothing was changed)"
    if found == SIMULATED:
        return f"--resume: {path!r} holds tokens of the simulated API (--simulate), not real ones; {tail}"
    if this == SIMULATED:
        return (
            f"--resume: {path!r} holds real tokens and this run is --simulate; use another "
            "--output for simulated runs (nothing was changed)"
        )
    return (
        f"--resume: {path!r} holds tokens from another API (origin {found} in the file, "
        f"{this} for this base URL and token: another --base-url); {tail}"
    )
