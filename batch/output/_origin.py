"""Where a results file's records came from: an API root and the API token used, or a simulator.

Every record carries ``origin``: a keyed hash of (base URL, token), 16 hex
digits, or ``simulated``. It tells records of one API and token from those of
another without holding either secret: the token cannot be recovered from it,
and the same pair always gives the same origin, so ``--resume`` can refuse to
mix records of another API, another token (another organization's, or this one's
token since rotated) or the simulator into a file. Files written before
records carried it are accepted as they are. A loopback API (a local simulator
or test server) is one origin whatever its port.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse

from batch.engine import is_loopback

__all__ = ["SIMULATED", "describe_mismatch", "origin_of"]

SIMULATED = "simulated"
_KEY = b"batch/results-origin/v1"


def origin_of(base_url: str, token: str, *, simulated: bool = False) -> str:
    """The origin of records made with ``token`` against ``base_url``."""
    if simulated:
        return SIMULATED
    root = base_url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(root)
    if parts.hostname and is_loopback(parts.hostname):
        # A server on this machine (a local simulator, a test server) is one API whatever
        # port it got this time.
        root = urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname))
    message = f"{root}\n{token}".encode()
    return hmac.new(_KEY, message, hashlib.sha256).hexdigest()[:16]


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
        f"--resume: {path!r} holds tokens from another API or organization, or made with "
        f"an API token that has since changed (rotated?) (origin {found} in the "
        f"file, {this} for this base URL and token); {tail}"
    )
