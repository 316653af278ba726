"""What the engine gives a job to build a request with (`Call`), and what it hands back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from batch import Call, Engine, EngineOptions, Item, Request, Response
from jobs import WorkerTokens
from tests.conftest import StartSim
from tests.helpers import new_ids


class Recording(WorkerTokens):
    """The worker-tokens job, noting each call it was given and each answer it parsed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Call]] = []
        self.received: list[datetime] = []

    def build_request(self, key: str, call: Call) -> Request:
        self.calls.append((key, call))
        return super().build_request(key, call)

    def parse_success(self, response: Response) -> dict[str, object]:
        self.received.append(response.received_at)
        return dict(super().parse_success(response))


@pytest.mark.anyio
async def test_one_idempotency_key_per_item_the_same_on_every_attempt(sim: StartSim) -> None:
    ids = new_ids(3)
    api = sim(rate=None, plan={ids[0]: ["500", "drop"], ids[2]: ["503_html"]})
    job = Recording()

    async def items() -> AsyncIterator[Item]:
        for line, key in enumerate(ids, start=2):
            yield Item(key, line)

    options = EngineOptions(base_url=api.base_url, token="org-token", rate=1000)
    before = datetime.now(UTC)
    engine = Engine(job, options, rand=lambda: 0.0)
    async with engine.results(items()) as results:
        got = {result.key: result async for result in results}
    assert all(result.ok for result in got.values())
    keys: dict[str, set[str]] = {}
    for key, call in job.calls:
        assert call.token == "org-token"
        keys.setdefault(key, set()).add(call.idempotency_key)
    assert [len(job.calls), got[ids[0]].attempts, got[ids[2]].attempts] == [6, 3, 2]
    assert all(len(per_item) == 1 for per_item in keys.values())  # the same on every retry
    assert len(set.union(*keys.values())) == 3  # and another for each item
    assert all(len(key) <= 64 for key in set.union(*keys.values()))  # as Deel allows
    assert len(job.received) == 3
    assert all(before <= at <= datetime.now(UTC) for at in job.received)

    # A new run (a nightly refresh) must mint: it uses new keys for the same IDs.
    job.calls.clear()
    async with Engine(job, options).results(items()) as results:
        assert all([result.ok async for result in results])
    first_run = {key for per_item in keys.values() for key in per_item}
    assert not {call.idempotency_key for _, call in job.calls} & first_run
