"""A stopped engine resumes running executions from their checkpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path

from montemap.engine.clock import ManualClock
from montemap.testing import eventually_async
from tests.engine.helpers import event_types, machine, open_engine, settle

WAIT_THEN_PASS = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Pass", "Result": {"step": 1}, "ResultPath": "$.first", "Next": "Sleep"},
        "Sleep": {"Type": "Wait", "Seconds": 100, "Next": "Last"},
        "Last": {"Type": "Pass", "Result": "done", "ResultPath": "$.last", "End": True},
    },
}


def test_wait_timer_survives_restart(tmp_path: Path) -> None:
    clock = ManualClock()

    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db", clock)
        rec = await engine.start_execution(machine(WAIT_THEN_PASS), name="e1", input='{"a": 1}')
        await eventually_async(
            lambda: event_types(engine, rec.execution_arn)[-1] == "WaitStateEntered",
            what="the Wait state entered",
        )
        await engine.close()  # the server goes away mid-Wait

        clock.advance(60)
        engine = await open_engine(tmp_path / "m.db", clock)
        await settle()
        assert engine.describe_execution(rec.execution_arn).status == "RUNNING"
        clock.advance(40)  # the original deadline, not 100 s after the restart
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        assert done.status == "SUCCEEDED"
        assert done.output == '{"a":1,"first":{"step":1},"last":"done"}'
        types = event_types(engine, rec.execution_arn)
        # the finished Pass state was not redone
        assert types.count("PassStateEntered") == 2
        assert types.count("WaitStateEntered") == 1
        await engine.close()

    asyncio.run(scenario())


RETRYING_PARALLEL = {
    "StartAt": "P",
    "States": {
        "P": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": True}}},
                {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "c"}}},
            ],
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 30, "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


def test_retry_delay_survives_restart(tmp_path: Path) -> None:
    clock = ManualClock()

    async def scenario() -> None:
        engine = await open_engine(tmp_path / "m.db", clock)
        rec = await engine.start_execution(machine(RETRYING_PARALLEL), name="e2", input="{}")
        await eventually_async(
            lambda: "FailStateEntered" in event_types(engine, rec.execution_arn),
            what="the first attempt failed",
        )
        await engine.close()  # during the 30 s retry back-off
        engine = await open_engine(tmp_path / "m.db", clock)
        await settle()
        clock.advance(29)
        await settle()
        assert event_types(engine, rec.execution_arn).count("ParallelStateStarted") == 1
        clock.advance(1)
        done = await asyncio.wait_for(engine.wait_for(rec.execution_arn), 5)
        assert done.status == "SUCCEEDED"
        assert done.output == '{"err":{"Error":"Boom","Cause":"c"}}'
        # two attempts, nothing redone across the restart, then caught (the shape AWS
        # records for a retried, caught Parallel state in the conformance corpus)
        assert event_types(engine, rec.execution_arn) == [
            "ExecutionStarted",
            "ParallelStateEntered",
            *["ParallelStateStarted", "WaitStateEntered", "FailStateEntered"] * 2,
            "ParallelStateFailed",
            "ParallelStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded",
        ]
        await engine.close()

    asyncio.run(scenario())
