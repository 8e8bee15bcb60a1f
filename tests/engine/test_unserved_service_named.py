"""A Task calling a service montemap does not serve (an ``aws-sdk:`` or an optimized
integration: DynamoDB, SQS, SNS...) fails at once with ``States.Runtime`` and a cause
that names the service as its API does, as the endpoint names it to a client signing
for it (``montemap does not serve Amazon DynamoDB``), not only by a resource ARN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from montemap.arns import ArnFactory
from montemap.engine.db import Database
from montemap.engine.engine import Engine
from tests.engine.helpers import machine


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
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": resource,
                "Parameters": {"TableName": "t"},
                "End": True,
            }
        },
    }

    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        rec = await engine.start_execution(machine(definition), name="u", input="{}")
        done = await engine.wait_for(rec.execution_arn, 30)
        assert (done.status, done.error) == ("FAILED", "States.Runtime")
        assert (
            f"The resource '{resource}' is not supported by this server: montemap does not"
            f" serve {named}. Supported resources: "
        ) in (done.cause or "")
        await engine.close()

    asyncio.run(scenario())


def test_a_resource_that_names_no_service_is_not_given_one(tmp_path: Path) -> None:
    resource = "arn:aws:states:::aws-sdk:../../etc:passwd"
    definition = {
        "StartAt": "C",
        "States": {"C": {"Type": "Task", "Resource": resource, "End": True}},
    }

    async def scenario() -> None:
        engine = Engine(Database(tmp_path / "m.db"), arns=ArnFactory())
        rec = await engine.start_execution(machine(definition), name="n", input="{}")
        done = await engine.wait_for(rec.execution_arn, 30)
        assert done.error == "States.Runtime"
        assert f"The resource '{resource}' is not supported by this server. Supported" in (
            done.cause or ""
        )
        await engine.close()

    asyncio.run(scenario())
