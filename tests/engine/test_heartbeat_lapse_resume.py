"""A heartbeat that lapsed just before the server stopped still ends the task after a
restart: the task's row was closed for the lapse (a late worker gets TaskTimedOut) but
the server went away before the ActivityTimedOut event was written. The restarted
engine records the lapse at once, once, as ``States.Timeout`` that a Catch on
``States.HeartbeatTimeout`` takes; it does not wait for ``TimeoutSeconds`` (a year
here) for a task nobody can complete any more."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from montemap.engine.clock import ManualClock
from tests.engine.helpers import event_types, machine, open_engine, settle


def _definition(activity_arn: str) -> dict[str, object]:
    return {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": activity_arn,
                "HeartbeatSeconds": 10,
                "TimeoutSeconds": 31536000,
                "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Lapsed"}],
                "End": True,
            },
            "Lapsed": {"Type": "Pass", "End": True},
        },
    }


def test_a_lapse_closed_before_a_stop_is_recorded_after_the_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    db = tmp_path / "m.db"

    async def scenario() -> None:
        engine = await open_engine(db, clock)
        activity = engine.create_activity("work")
        rec = await engine.start_execution(
            machine(_definition(activity.arn)), name="hb", input="{}"
        )
        await settle()
        claimed = await engine.get_activity_task(activity.arn, "w", wait_seconds=1)
        assert claimed is not None
        await engine.close()

        # What the lapse did before the server went away: the row closed, no event yet.
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE activity_tasks SET status = 'CLOSED' WHERE token = ?", (claimed[0],)
            )
        clock.advance(11)

        engine = await open_engine(db, clock)
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        assert done.status == "SUCCEEDED", done.cause
        assert json.loads(done.output or "") == {"Error": "States.Timeout"}
        types = event_types(engine, rec.execution_arn)
        assert types.count("ActivityTimedOut") == 1
        await engine.close()

    asyncio.run(scenario())
