"""The activity hot path in the engine: claims, results, refusals and poll wake-ups."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.engine.activities import ActivityQueue
from montemap.engine.db import Database, committed
from montemap.engine.engine import Engine
from montemap.engine.errors import InvalidOutput, InvalidToken, TaskDoesNotExist, TaskTimedOut
from tests.engine.helpers import event_types, machine

ACTIVITY = ArnFactory().activity("work")


def fan_out(activity: str, concurrency: int = 0) -> dict[str, Any]:
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "MaxConcurrency": concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
                },
                "End": True,
            }
        },
    }


def test_many_round_trips_keep_history_and_outputs_exact(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        activity = engine.create_activity("work").arn
        items = list(range(40))
        rec = await engine.start_execution(
            machine(fan_out(activity, 7)), name="e", input=json.dumps(items)
        )

        async def worker(name: str) -> None:
            while True:
                task = await engine.get_activity_task(activity, name, wait_seconds=0.2)
                if task is None:
                    return
                token, task_input = task
                await engine.send_task_success(
                    token, json.dumps({"double": 2 * json.loads(task_input)})
                )

        await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
        done = await engine.wait_for(rec.execution_arn, 10)
        assert done.status == "SUCCEEDED", done.cause
        assert json.loads(done.output or "") == [{"double": 2 * i} for i in items]
        types = event_types(engine, rec.execution_arn)
        for kind in ("ActivityScheduled", "ActivityStarted", "ActivitySucceeded"):
            assert types.count(kind) == len(items)
        history, _ = engine.get_execution_history(
            rec.execution_arn, reverse=False, max_results=1000, next_token=None, include_data=True
        )
        assert [e["id"] for e in history] == list(range(1, len(history) + 1))
        await engine.close()
        engine.db.close()

    asyncio.run(scenario())


def test_result_refusals_come_in_aws_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        activity = engine.create_activity("work").arn
        await engine.start_execution(machine(fan_out(activity)), name="e", input="[1]")
        task = await engine.get_activity_task(activity, "w", wait_seconds=1)
        assert task is not None
        token = task[0]
        with pytest.raises(InvalidToken):
            await engine.send_task_success("AQnot-a-token", "not json")
        with pytest.raises(TaskDoesNotExist):
            await engine.send_task_success("AQ0" + "A" * 43, "not json")
        with pytest.raises(InvalidOutput, match="not valid JSON"):
            await engine.send_task_success(token, "not json")
        await engine.send_task_success(token, "{}")  # the refused output changed nothing
        with pytest.raises(TaskTimedOut):
            await engine.send_task_success(token, "{}")
        await committed()
        await engine.close()
        engine.db.close()

    asyncio.run(scenario())


def test_a_woken_poll_that_is_cancelled_passes_the_wake_up_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "q.db")
        queue = ActivityQueue(db, ArnFactory())
        first = asyncio.ensure_future(queue.wait_for_task(ACTIVITY, 30))
        second = asyncio.ensure_future(queue.wait_for_task(ACTIVITY, 30))
        while len(queue._pollers.get(ACTIVITY, ())) < 2:
            await asyncio.sleep(0)
        queue.notify(ACTIVITY)  # a task was scheduled: the first poller is woken...
        first.cancel()  # ...but its client leaves before it can claim the task
        await asyncio.wait_for(second, 5)  # the second poller is woken instead
        assert first.cancelled()
        db.close()

    asyncio.run(scenario())


def test_a_poll_times_out_and_leaves_no_waiter_behind(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "q.db")
        queue = ActivityQueue(db, ArnFactory())
        await queue.wait_for_task(ACTIVITY, 0.01)
        assert not queue._pollers[ACTIVITY]
        db.close()

    asyncio.run(scenario())


def test_a_waiting_poll_gets_a_task_the_moment_it_is_scheduled(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        activity = engine.create_activity("work").arn
        poll = asyncio.ensure_future(engine.get_activity_task(activity, "w", wait_seconds=30))
        await asyncio.sleep(0)
        assert not poll.done()
        await engine.start_execution(machine(fan_out(activity)), name="e", input='["x"]')
        task = await asyncio.wait_for(poll, 5)
        assert task is not None and json.loads(task[1]) == "x"
        await engine.send_task_success(task[0], "1")
        await engine.close()
        engine.db.close()

    asyncio.run(scenario())
