"""The library API of revoke-tokens: end worker access tokens from a script.

    async for result in revoke_worker_tokens(profile_ids, token=org_token):
        ...  # one Revocation per distinct ID, as each completes; a `break` is safe

    results = revoke_worker_tokens_sync(profile_ids, token=org_token)  # in input order

The same options (`RunOptions`, `AsyncRunOptions`), checks, logging, aborts and Ctrl-C as
the worker-tokens entry points (`jobs._library._api`): only the request and the results
differ. A script is asked nothing: calling it is the confirmation.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Unpack

from batch import Job
from jobs._library._options import AsyncRunOptions, Checked, RunOptions, checked, checked_async
from jobs._library._run import ProfileIds, collect_sync, opened
from jobs._library._stream import stream
from jobs._library._types import (
    Revocation,
    RevocationResults,
    RevocationsAborted,
    RevocationsInterrupted,
)
from jobs._revoke_tokens import REVOKE_TOKENS

__all__ = ["revoke_worker_tokens", "revoke_worker_tokens_sync"]

_JOB: Job = REVOKE_TOKENS


def revoke_worker_tokens(
    profile_ids: ProfileIds, **options: Unpack[AsyncRunOptions]
) -> AsyncGenerator[Revocation, None]:
    """An async generator yielding one `Revocation` per distinct profile ID as each completes:
    `Revoked` (``revoked_at``) or `Failed` (a 404: no such worker, or no active token).

    Options as for `create_worker_tokens` (``token`` required); wrong types raise TypeError
    and bad values ValueError here, before any call. A ``break`` is safe: it stops the run.
    The run raises `RevocationsAborted` (a `RunAborted`) after the results obtained if the
    API refuses the token, or refuses every one of the first requests alike (IDs that are
    not this organization's).
    """
    run = checked_async(_JOB, profile_ids, options, call="revoke_worker_tokens")
    return stream(_open(profile_ids, run))


def revoke_worker_tokens_sync(
    profile_ids: Iterable[str | uuid.UUID], **options: Unpack[RunOptions]
) -> list[Revocation]:
    """`revoke_worker_tokens` for scripts that are not async: every result, in input order.
    `RevocationsAborted` and `RevocationsInterrupted` (Ctrl-C), a `RunAborted` and a
    `RunInterrupted`, hold the results obtained, as for `create_worker_tokens_sync`."""
    run = checked(_JOB, profile_ids, options, call="revoke_worker_tokens_sync")
    return collect_sync(
        lambda: _open(profile_ids, run),
        _line,
        aborted=RevocationsAborted,
        interrupted=RevocationsInterrupted,
    )


def _open(profile_ids: ProfileIds, run: Checked) -> AbstractAsyncContextManager[RevocationResults]:
    return opened(_JOB, RevocationResults, profile_ids, run)


def _line(result: Revocation) -> int:
    return result.line
