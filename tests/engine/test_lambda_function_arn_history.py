"""History of a Task whose ``Resource`` is a Lambda function's ARN (the form before the
optimised ``lambda:invoke`` integration), on a real server driven with boto3.

Step Functions records such a call with the ``LambdaFunction*`` events
(LambdaFunctionScheduled with the function's ARN and its input, LambdaFunctionStarted,
then LambdaFunctionSucceeded, LambdaFunctionFailed or LambdaFunctionTimedOut), not the
``Task*`` events of a service integration; ``lambda:invoke`` keeps the ``Task*`` events.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing import MontemapServer, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"
SOURCE = """\
import time

class Refused(Exception):
    pass

def handler(event, context):
    if event.get("refuse"):
        raise Refused("not today")
    time.sleep(event.get("sleep", 0))
    return {"twice": event["n"] * 2}
"""


def _package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", SOURCE)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def function_arn(shared_montemap_server: MontemapServer) -> Iterator[str]:
    client = shared_montemap_server.client("lambda")
    made = client.create_function(
        FunctionName=f"arn-history-{uuid.uuid4().hex[:8]}",
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": _package()},
        Timeout=30,
    )
    yield made["FunctionArn"]
    client.close()


def _history(
    server: MontemapServer, state: dict[str, Any], payload: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    states: dict[str, Any] = {"Call": {**state, "End": True}}
    if "Catch" in state:
        states["Caught"] = {"Type": "Pass", "End": True}
    definition = {"StartAt": "Call", "States": states}
    sfn = server.client()
    try:
        machine = sfn.create_state_machine(
            name=f"fn-arn-{uuid.uuid4().hex[:10]}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))
        done = wait_for_execution(sfn, arn["executionArn"])
        events = sfn.get_execution_history(executionArn=arn["executionArn"], maxResults=1000)
    finally:
        sfn.close()
    return done, [
        e for e in events["events"] if not e["type"].endswith(("StateEntered", "StateExited"))
    ]


def test_a_call_that_succeeds(shared_montemap_server: MontemapServer, function_arn: str) -> None:
    state = {"Type": "Task", "Resource": function_arn, "TimeoutSeconds": 20}
    done, events = _history(shared_montemap_server, state, {"n": 4})
    assert done["status"] == "SUCCEEDED", done
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "ExecutionSucceeded",
    ]
    scheduled = events[1]["lambdaFunctionScheduledEventDetails"]
    assert scheduled == {
        "resource": function_arn,
        "input": '{"n":4}',
        "inputDetails": {"truncated": False},
        "timeoutInSeconds": 20,
    }
    assert "lambdaFunctionStartedEventDetails" not in events[2]
    assert json.loads(events[3]["lambdaFunctionSucceededEventDetails"]["output"]) == {"twice": 8}


def test_a_call_that_fails(shared_montemap_server: MontemapServer, function_arn: str) -> None:
    state = {"Type": "Task", "Resource": function_arn}
    done, events = _history(shared_montemap_server, state, {"refuse": True})
    assert done["status"] == "FAILED"
    assert done["error"] == "Refused"
    failed = next(e for e in events if e["type"] == "LambdaFunctionFailed")
    details = failed["lambdaFunctionFailedEventDetails"]
    assert details["error"] == "Refused"
    assert json.loads(details["cause"])["errorMessage"] == "not today"
    assert not [e for e in events if e["type"].startswith("Task")]


def test_a_call_that_times_out(shared_montemap_server: MontemapServer, function_arn: str) -> None:
    state = {
        "Type": "Task",
        "Resource": function_arn,
        "TimeoutSeconds": 1,
        "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Caught"}],
    }
    done, events = _history(shared_montemap_server, state, {"n": 1, "sleep": 5})
    assert done["status"] == "SUCCEEDED", done
    timed_out = next(e for e in events if e["type"] == "LambdaFunctionTimedOut")
    assert timed_out["lambdaFunctionTimedOutEventDetails"]["error"] == "States.Timeout"


def test_lambda_invoke_keeps_the_task_events(
    shared_montemap_server: MontemapServer, function_arn: str
) -> None:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": {"n": 1}},
    }
    done, events = _history(shared_montemap_server, state, {})
    assert done["status"] == "SUCCEEDED", done
    assert [e["type"] for e in events][1:4] == ["TaskScheduled", "TaskStarted", "TaskSucceeded"]
