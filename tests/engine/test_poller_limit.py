"""GetActivityTask's quota of pollers per activity: the 1,001st open poll is refused with
``ActivityWorkerLimitExceeded``, as on AWS; a poll that ends frees its place."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from montemap.engine.activities import MAX_POLLERS
from montemap.engine.errors import ActivityWorkerLimitExceeded
from tests.engine.helpers import open_engine, settle


def test_the_poller_past_the_quota_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        activity = engine.create_activity("work").arn
        other = engine.create_activity("other").arn
        polls = [
            asyncio.ensure_future(engine.get_activity_task(activity, "w", wait_seconds=60))
            for _ in range(MAX_POLLERS)
        ]
        await settle()
        assert not any(p.done() for p in polls)
        with pytest.raises(ActivityWorkerLimitExceeded):
            await engine.get_activity_task(activity, "w", wait_seconds=60)
        # another activity has its own quota
        assert await engine.get_activity_task(other, "w", wait_seconds=0.01) is None
        polls[0].cancel()  # a client that leaves frees its place
        await settle()
        late = asyncio.ensure_future(engine.get_activity_task(activity, "w", wait_seconds=60))
        await settle()
        assert not late.done()
        engine.activities.end_polls()
        await asyncio.gather(late, *polls[1:])
        await engine.close()

    asyncio.run(scenario())
