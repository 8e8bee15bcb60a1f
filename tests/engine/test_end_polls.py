"""``Activities.end_polls``: a stopping server ends every waiting poll at once without a
task, takes no task for later polls, and leaves the tasks scheduled for the next start
(the HTTP side: ``tests/api/test_shutdown_polls.py``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from montemap.engine.engine import Engine
from tests.engine.helpers import machine, open_engine, settle


async def _schedule(engine: Engine, activity: str) -> None:
    sm = machine(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": activity, "End": True}}}
    )
    await engine.start_execution(sm, name="e", input="{}")
    await settle()


def test_waiting_polls_end_at_once_and_the_task_stays_for_the_next_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db")
        activity = engine.create_activity("work").arn
        polls = [
            asyncio.ensure_future(engine.get_activity_task(activity, "w", wait_seconds=60))
            for _ in range(3)
        ]
        await settle()
        assert not any(p.done() for p in polls)  # waiting: nothing scheduled
        started = time.monotonic()
        engine.activities.end_polls()
        assert await asyncio.wait_for(asyncio.gather(*polls), 5) == [None, None, None]
        assert time.monotonic() - started < 5
        await _schedule(engine, activity)
        # a task waits, but a stopping server hands out none, and does not wait
        assert await asyncio.wait_for(engine.get_activity_task(activity, "w"), 5) is None
        await engine.close()
        restarted = await open_engine(tmp_path / "m.db")  # the next start
        task = await asyncio.wait_for(restarted.get_activity_task(activity, "w"), 5)
        assert task is not None and task[1] == "{}"
        await restarted.close()

    asyncio.run(scenario())
