"""AWS's quota on one execution's history: past it the execution fails, uncatchably.

Every path that appends events respects it (state entries, retries, activity and
task events written by a worker's poll or a timer, Map iterations, Parallel
branches): the history never holds more than the quota, and its last event is
the ``ExecutionFailed`` that says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from montemap.arns import ArnFactory
from montemap.engine.clock import ManualClock
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.errors import ExecutionNotRedrivable, TaskTimedOut
from montemap.engine.run import MAX_HISTORY_EVENTS
from tests.engine.helpers import event_types, machine, settle

LOOP = {"StartAt": "Loop", "States": {"Loop": {"Type": "Pass", "Next": "Loop"}}}
QUOTA = "maximum number of events in its history"


def _run(tmp_path: Path, definition: dict[str, Any], limit: int) -> tuple[Any, list[str]]:
    async def scenario() -> tuple[Any, list[str]]:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory(), max_history_events=limit)
        await engine.start()
        try:
            started = await engine.start_execution(machine(definition), name="e", input="{}")
            done = await engine.wait_for(started.execution_arn, 60)
            return done, event_types(engine, started.execution_arn)
        finally:
            await engine.close()

    return asyncio.run(scenario())


def _assert_failed_at_quota(done: Any, events: list[str], limit: int) -> None:
    assert (done.status, done.error) == ("FAILED", "States.Runtime"), (done.status, done.cause)
    assert f"{QUOTA} ({limit})" in (done.cause or "")
    assert len(events) <= limit
    assert events[-1] == "ExecutionFailed"
    assert events.count("ExecutionFailed") == 1


Driver = Callable[[Engine, ManualClock, str, str], Awaitable[None]]


def _run_activity(
    tmp_path: Path, definition: Callable[[str], dict[str, Any]], limit: int, drive: Driver
) -> tuple[Any, list[str]]:
    """Run ``definition(activity_arn)`` on a ManualClock; ``drive`` plays the worker
    and the time until the execution ends."""
    clock = ManualClock()

    async def scenario() -> tuple[Any, list[str]]:
        engine = Engine(
            Database(tmp_path / "m.db"), arns=ArnFactory(), clock=clock, max_history_events=limit
        )
        await engine.start()
        try:
            activity = engine.create_activity("work")
            sm = machine(definition(activity.arn))
            started = await engine.start_execution(sm, name="a", input="{}")
            arn = started.execution_arn
            for _ in range(2_000):
                await settle()
                if engine.describe_execution(arn).status != "RUNNING":
                    break
                await drive(engine, clock, activity.arn, arn)
            return engine.describe_execution(arn), event_types(engine, arn)
        finally:
            await engine.close()

    return asyncio.run(scenario())


def _activity_task(retry: dict[str, Any], **fields: Any) -> Callable[[str], dict[str, Any]]:
    """A machine of one activity Task that retries (one second apart)."""

    def definition(activity_arn: str) -> dict[str, Any]:
        work = {
            "Type": "Task",
            "Resource": activity_arn,
            **fields,
            "Retry": [{"IntervalSeconds": 1, "BackoffRate": 1, **retry}],
            "End": True,
        }
        return {"StartAt": "Work", "States": {"Work": work}}

    return definition


def test_the_default_is_aws_quota() -> None:
    assert MAX_HISTORY_EVENTS == 25_000


def test_an_endless_loop_fails_at_the_history_limit(tmp_path: Path) -> None:
    done, events = _run(tmp_path, LOOP, limit=60)
    _assert_failed_at_quota(done, events, 60)


def test_the_limit_cannot_be_caught(tmp_path: Path) -> None:
    guarded = {
        "StartAt": "Guard",
        "States": {
            "Guard": {
                "Type": "Parallel",
                "Branches": [LOOP],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    done, events = _run(tmp_path, guarded, limit=80)
    _assert_failed_at_quota(done, events, 80)
    assert "SucceedStateEntered" not in events


SHORT = {
    "StartAt": "P",
    "States": {"P": {"Type": "Pass", "Next": "S"}, "S": {"Type": "Succeed"}},
}


def test_a_history_that_fits_exactly_succeeds(tmp_path: Path) -> None:
    done, events = _run(tmp_path, SHORT, limit=6)
    assert done.status == "SUCCEEDED"
    assert len(events) == 6


def test_the_end_takes_the_last_place(tmp_path: Path) -> None:
    done, events = _run(tmp_path, SHORT, limit=5)
    _assert_failed_at_quota(done, events, 5)
    assert len(events) == 5


async def _time_passes(engine: Engine, clock: ManualClock, activity: str, arn: str) -> None:
    clock.advance(1)


def test_retried_timeouts_stop_at_the_limit(tmp_path: Path) -> None:
    """Each try adds ActivityScheduled and ActivityTimedOut without entering the state again."""
    definition = _activity_task(
        {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 300}, TimeoutSeconds=1
    )
    done, events = _run_activity(tmp_path, definition, 40, _time_passes)
    _assert_failed_at_quota(done, events, 40)
    assert len(events) == 40  # one event per commit: the quota is filled to its last place
    assert events.count("ActivityTimedOut") > 5


async def _failing_worker(engine: Engine, clock: ManualClock, activity: str, arn: str) -> None:
    """A worker that polls and fails every task (its poll writes ActivityStarted)."""
    task = await engine.get_activity_task(activity, "w", wait_seconds=0)
    if task is not None:
        try:
            await engine.send_task_failure(task[0], "Boom", "again")
        except TaskTimedOut:  # the poll's event did not fit: the execution ended
            assert engine.describe_execution(arn).status == "FAILED"
    clock.advance(1)


@pytest.mark.parametrize("limit", [30, 31, 32])
def test_a_worker_poll_respects_the_limit(tmp_path: Path, limit: int) -> None:
    """Three limits in a row: the event that does not fit is each of a try's three
    (ActivityScheduled, ActivityStarted written by the poll, ActivityFailed)."""
    definition = _activity_task({"ErrorEquals": ["Boom"], "MaxAttempts": 300})
    done, events = _run_activity(tmp_path, definition, limit, _failing_worker)
    _assert_failed_at_quota(done, events, limit)
    assert len(events) == limit
    assert events.count("ActivityFailed") > 5


def test_inline_map_iterations_stop_at_the_limit(tmp_path: Path) -> None:
    each = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "MaxConcurrency": 0,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Item",
            "States": {"Item": {"Type": "Pass", "End": True}},
        },
        "End": True,
    }
    make = {"Type": "Pass", "Result": list(range(200)), "ResultPath": "$.items", "Next": "Each"}
    definition = {"StartAt": "Make", "States": {"Make": make, "Each": each}}
    done, events = _run(tmp_path, definition, limit=100)
    _assert_failed_at_quota(done, events, 100)
    assert events.count("MapIterationStarted") > 5


def test_parallel_branches_stop_at_the_limit(tmp_path: Path) -> None:
    branch = {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}
    definition = {
        "StartAt": "Fan",
        "States": {"Fan": {"Type": "Parallel", "Branches": [branch] * 60, "End": True}},
    }
    done, events = _run(tmp_path, definition, limit=50)
    _assert_failed_at_quota(done, events, 50)


def test_a_full_history_is_not_run_again_by_a_redrive(tmp_path: Path) -> None:
    """Refused as AWS refuses it ("Execution history event limit exceeded"), and
    DescribeExecution says so: never an event past the quota, never a step run again."""

    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory(), max_history_events=40)
        await engine.start()
        try:
            started = await engine.start_execution(machine(LOOP), name="e", input="{}")
            arn = started.execution_arn
            await engine.wait_for(arn, 60)
            before = event_types(engine, arn)
            done = engine.describe_execution(arn)
            assert (done.status, done.error) == ("FAILED", "States.Runtime")
            assert (done.redrive_status, done.redrive_status_reason) == (
                "NOT_REDRIVABLE",
                "Execution history event limit exceeded",
            )
            with pytest.raises(ExecutionNotRedrivable, match="history event limit exceeded"):
                engine.redrive_execution(arn)
            await settle()
            assert event_types(engine, arn) == before
            assert len(before) <= 40
            assert arn not in engine.runs
        finally:
            await engine.close()

    asyncio.run(scenario())
