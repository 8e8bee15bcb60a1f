"""A Task whose resource no integration handles: a clear States.Runtime failure, and no
TaskScheduled/TaskStarted for a call that was never made (as AWS fails a state before
scheduling when it cannot make the call)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from tests.engine.helpers import event_types, machine


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:states:::aws-sdk:dynamodb:getItem",
        "arn:aws:states:::dynamodb:putItem",
        "arn:aws:states:::sqs:sendMessage",
    ],
)
def test_unsupported_resource_fails_before_the_task_is_scheduled(
    tmp_path: Path, resource: str
) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": resource,
                "Parameters": {"TableName": "t"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }

    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        rec = await engine.start_execution(machine(definition), name="u1", input="{}")
        done = await engine.wait_for(rec.execution_arn, 30)
        assert event_types(engine, rec.execution_arn) == [
            "ExecutionStarted",
            "TaskStateEntered",
            "ExecutionFailed",
        ]
        assert done.status == "FAILED"
        assert done.error == "States.Runtime"
        assert f"The resource '{resource}' is not supported by this server" in (done.cause or "")
        assert "arn:aws:states:::lambda:invoke*" in (done.cause or "")
        await engine.close()

    asyncio.run(scenario())
