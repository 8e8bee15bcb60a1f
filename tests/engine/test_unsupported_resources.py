"""A Task whose resource no integration handles: a clear States.Runtime failure, and no
TaskScheduled/TaskStarted for a call that was never made (as AWS fails a state before
scheduling when it cannot make the call). The cause names the unserved service as its
API does, as the endpoint names it to a client signing for it (``montemap does not
serve Amazon DynamoDB``), not only by a resource ARN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from montemap.engine.records import ExecutionRecord
from tests.engine.helpers import event_types, machine


def _run_one_task(
    tmp_path: Path, resource: str, *, catch: bool = False
) -> tuple[ExecutionRecord, list[str]]:
    """Run a machine whose one Task calls ``resource``: its end and its event types."""
    call: dict[str, object] = {
        "Type": "Task",
        "Resource": resource,
        "Parameters": {"TableName": "t"},
        "End": True,
    }
    states: dict[str, object] = {"Call": call}
    if catch:
        call["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
        states["Caught"] = {"Type": "Succeed"}
    definition = {"StartAt": "Call", "States": states}

    async def scenario() -> tuple[ExecutionRecord, list[str]]:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        try:
            rec = await engine.start_execution(machine(definition), name="u1", input="{}")
            done = await engine.wait_for(rec.execution_arn, 30)
            return done, event_types(engine, rec.execution_arn)
        finally:
            await engine.close()

    return asyncio.run(scenario())


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
    done, events = _run_one_task(tmp_path, resource, catch=True)
    assert events == ["ExecutionStarted", "TaskStateEntered", "ExecutionFailed"]
    assert done.status == "FAILED"
    assert done.error == "States.Runtime"
    assert f"The resource '{resource}' is not supported by this server" in (done.cause or "")
    assert "arn:aws:states:::lambda:invoke*" in (done.cause or "")


@pytest.mark.parametrize(
    ("resource", "named"),
    [
        ("arn:aws:states:::aws-sdk:dynamodb:putItem", "Amazon DynamoDB ('dynamodb')"),
        (
            "arn:aws:states:::aws-sdk:sqs:sendMessage.waitForTaskToken",
            "Amazon Simple Queue Service ('sqs')",
        ),
        ("arn:aws:states:::sns:publish", "Amazon Simple Notification Service ('sns')"),
        ("arn:aws:states:::aws-sdk:nosuchservice:doIt", "'nosuchservice'"),
    ],
)
def test_the_cause_names_the_unserved_service(tmp_path: Path, resource: str, named: str) -> None:
    done, _ = _run_one_task(tmp_path, resource)
    assert (done.status, done.error) == ("FAILED", "States.Runtime")
    assert (
        f"The resource '{resource}' is not supported by this server: montemap does not"
        f" serve {named}. Supported resources: "
    ) in (done.cause or "")


def test_a_resource_that_names_no_service_is_not_given_one(tmp_path: Path) -> None:
    resource = "arn:aws:states:::aws-sdk:../../etc:passwd"
    done, _ = _run_one_task(tmp_path, resource)
    assert done.error == "States.Runtime"
    assert f"The resource '{resource}' is not supported by this server. Supported" in (
        done.cause or ""
    )
