"""A migration script: create a worker access token for each profile ID, with the library.

It runs against a simulated Deel API that it starts itself on loopback:

    python examples/migration_script.py

For the real API, drop the simulator: pass ``token=os.environ["DEEL_API_TOKEN"]`` and
no ``base_url`` (the production URL is the default), and read the IDs from your system.
Pass ``logger=logging.getLogger(...)`` (or a structlog logger) to see retries and failures.
"""

from __future__ import annotations

import sys

import anyio

from jobs import RunAborted, open_worker_tokens, simulated_api

PROFILE_IDS = [
    "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "9b2d7c1e-4a5f-4e8b-9c3d-1f2e3a4b5c6d",
    "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    "3FA85F64-5717-4562-B3FC-2C963F66AFA6",  # the first ID again: processed once
    "not-a-profile-id",  # invalid: reported, never sent
]
SIMULATED_TOKEN = "simulated-org-token"  # noqa: S105 - the simulated API accepts any token


async def main() -> int:
    ok = failed = 0
    async with simulated_api() as base_url:
        try:
            async with open_worker_tokens(
                PROFILE_IDS, token=SIMULATED_TOKEN, base_url=base_url, rate=5
            ) as results:
                async for result in results:  # in completion order
                    if result.ok:  # an Issued: token is a str, expires_at a datetime
                        ok += 1
                        # Store result.token in the target system here; never print it.
                        print(f"ok      {result.profile_id}  expires {result.expires_at:%Y-%m-%d}")
                    else:  # a Failed: error is a Failure
                        failed += 1
                        print(
                            f"failed  {result.profile_id}  (item {result.line}) "
                            f"{result.error.kind}: {result.error.message}"
                        )
        except RunAborted as exc:  # e.g. the API refused the token: nothing more will work
            print(f"aborted: {exc.reason}", file=sys.stderr)
            return exc.exit_code
    skipped = results.stats.duplicates
    print(f"done: {ok} ok, {failed} failed, {skipped} duplicate(s) skipped")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
