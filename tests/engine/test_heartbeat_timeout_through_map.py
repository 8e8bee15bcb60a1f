"""A heartbeat that lapses in an inline Map iteration (or a Parallel branch) fails the Map with the
iteration's error as AWS records it (``States.Timeout``), which a Retry or Catch on
the Map for ``States.HeartbeatTimeout`` takes, as it does on the Task itself. That
holds after a restart too: an iteration found FAILED when the engine comes back (the
server stopped between the iteration's failure and the Map's) still carries it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.clock import ManualClock
from montemap.engine.engine import Engine
from tests.engine.helpers import event_types, machine, open_engine, settle


def _definition(activity_arn: str, kind: str) -> dict[str, Any]:
    work = {
        "Type": "Task",
        "Resource": activity_arn,
        "HeartbeatSeconds": 10,
        "TimeoutSeconds": 31536000,
        "End": True,
    }
    inner = {"StartAt": "Work", "States": {"Work": work}}
    children = {"ItemProcessor": inner} if kind == "Map" else {"Branches": [inner]}
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": kind,
                **children,
                "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Lapsed"}],
                "End": True,
            },
            "Lapsed": {"Type": "Pass", "End": True},
        },
    }


def _failed_iterations(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM frames WHERE status = 'FAILED' AND parent_key IS NOT NULL"
        ).fetchone()
    return int(count)


async def _start(db: Path, clock: ManualClock, kind: str) -> tuple[Engine, str]:
    engine = await open_engine(db, clock)
    activity = engine.create_activity("work")
    definition = _definition(activity.arn, kind)
    rec = await engine.start_execution(machine(definition), name="hb", input="[1]")
    await settle()
    assert await engine.get_activity_task(activity.arn, "w", wait_seconds=1) is not None
    return engine, rec.execution_arn


KINDS = pytest.mark.parametrize("kind", ["Map", "Parallel"])


@KINDS
def test_a_catch_on_the_map_takes_an_iterations_heartbeat_timeout(
    tmp_path: Path, kind: str
) -> None:
    clock = ManualClock()

    async def scenario() -> None:
        engine, arn = await _start(tmp_path / "m.db", clock, kind)
        clock.advance(11)
        done = await asyncio.wait_for(engine.wait_for(arn), 5)
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        assert json.loads(done.output or "") == {"Error": "States.Timeout"}
        assert "ActivityTimedOut" in event_types(engine, arn)
        await engine.close()

    asyncio.run(scenario())


@KINDS
def test_an_iteration_failed_before_a_stop_still_matches_after_the_restart(
    tmp_path: Path, kind: str
) -> None:
    clock = ManualClock()
    db, image = tmp_path / "m.db", tmp_path / "image.db"

    async def scenario() -> None:
        engine, arn = await _start(db, clock, kind)
        clock.advance(11)
        # The database as a server killed right after the iteration failed leaves it:
        # copied between two turns of the loop, once the iteration's frame is FAILED.
        for _ in range(1000):
            await asyncio.sleep(0)
            if _failed_iterations(db):
                with sqlite3.connect(db) as source, sqlite3.connect(image) as target:
                    source.backup(target)
                break
        await engine.close()
        assert _failed_iterations(image) == 1

        engine = await open_engine(image, clock)
        done = await asyncio.wait_for(engine.wait_for(arn), 5)
        assert done.status == "SUCCEEDED", (done.error, done.cause)
        assert json.loads(done.output or "") == {"Error": "States.Timeout"}
        await engine.close()

    asyncio.run(scenario())
