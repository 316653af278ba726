"""The organization's quota for a script's own calls: the same window the runs share.

    async with organization_quota(token=org_token) as quota:
        async with quota.slot():            # waits for a start in the shared window
            await session.get(...)          # any call that counts against the 5/s

Deel's limit is per organization, so a migration script that calls other endpoints while
`open_worker_tokens` runs (or while a cron run does) must take its starts from the same
window, or both fall back on 429s.
"""

from __future__ import annotations

from batch import SharedQuota, as_logger
from jobs._worker_tokens import WORKER_TOKENS

__all__ = ["organization_quota"]


def organization_quota(
    *,
    token: str,
    base_url: str = WORKER_TOKENS.default_base_url,
    store: str = "local",
    rate: float = 5.0,
    logger: object = None,
) -> SharedQuota:
    """The shared quota of the organization that ``token`` belongs to, at ``base_url``.

    ``store`` as the command line's --quota-store ("local", a shared directory,
    "redis://HOST:PORT/DB", "none"); ``rate`` caps the script's own starts (``slot()``) like
    --rate; ``logger`` as the library's (a `logging.Logger`, a structlog-style logger or
    None). Use it as an async context manager (it closes the store's file or connection).
    """
    return SharedQuota(
        store,
        base_url=base_url.strip().rstrip("/"),
        token=token.strip(),
        rate=rate,
        logger=as_logger(logger),
    )
