"""AWS SDK integrations served through the endpoint: ``aws-sdk:sfn``, ``aws-sdk:lambda``,
``aws-sdk:sts`` (and ``cloudformation``, ``iam``) called from a state machine as AWS
calls them, PascalCase in and out, refusals as ``<Service>.<Code>Exception``."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import MontemapServer
from tests.lambda_api.helpers import create, eventually

ROLE = "arn:aws:iam::123456789012:role/sfn"
SDK = "arn:aws:states:::aws-sdk:"


def _run(server: MontemapServer, name: str, definition: dict[str, Any], payload: Any = None) -> Any:
    sfn = server.client()
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    run = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], input=json.dumps(payload or {})
    )

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=run["executionArn"])
        return None if described["status"] == "RUNNING" else described

    return eventually(finished)


def test_sfn_start_and_describe_an_execution(lambda_server: MontemapServer) -> None:
    sfn = lambda_server.client()
    child = sfn.create_state_machine(
        name="sdk-child",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Task",
                "Resource": f"{SDK}sfn:startExecution",
                "Parameters": {
                    "StateMachineArn": child,
                    "Input.$": "States.JsonToString($)",
                },
                "ResultPath": "$.started",
                "Next": "Describe",
            },
            "Describe": {
                "Type": "Task",
                "Resource": f"{SDK}sfn:describeExecution",
                "Parameters": {"ExecutionArn.$": "$.started.ExecutionArn"},
                "ResultSelector": {
                    "arn.$": "$.ExecutionArn",
                    "machine.$": "$.StateMachineArn",
                    "input.$": "$.Input",
                    "started.$": "$.StartDate",
                },
                "End": True,
            },
        },
    }
    done = _run(lambda_server, "sdk-sfn-parent", definition, {"x": 7})
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    output = json.loads(done["output"])
    assert output["machine"] == child
    assert json.loads(output["input"]) == {"x": 7}  # a string, as the SDK shape says
    assert output["started"].endswith("Z") and "T" in output["started"]  # ISO-8601, UTC


def test_a_refusal_is_the_service_s_named_error_and_can_be_caught(
    lambda_server: MontemapServer,
) -> None:
    missing = "arn:aws:states:us-east-1:123456789012:execution:nope:nope"
    definition = {
        "StartAt": "Describe",
        "States": {
            "Describe": {
                "Type": "Task",
                "Resource": f"{SDK}sfn:describeExecution",
                "Parameters": {"ExecutionArn": missing},
                "Catch": [
                    {
                        "ErrorEquals": ["Sfn.ExecutionDoesNotExistException"],
                        "Next": "Caught",
                    }
                ],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    done = _run(lambda_server, "sdk-sfn-catch", definition)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    caught = json.loads(done["output"])
    assert caught["Error"] == "Sfn.ExecutionDoesNotExistException"
    assert "(Service: Sfn, Status Code: 400, Request ID: " in caught["Cause"]


def test_lambda_invoke_returns_the_payload_as_text_and_errors_without_failing(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    create(
        lambda_client,
        "sdk-echo",
        {
            "index.py": """
            def handler(event, context):
                if event.get("fail"):
                    raise ValueError("asked to fail")
                return {"twice": event["n"] * 2}
            """
        },
    )
    invoke = {"Type": "Task", "Resource": f"{SDK}lambda:invoke"}
    definition = {
        "StartAt": "Good",
        "States": {
            "Good": {
                **invoke,
                "Parameters": {"FunctionName": "sdk-echo", "Payload": {"n.$": "$.n"}},
                "ResultPath": "$.good",
                "Next": "Bad",
            },
            "Bad": {
                **invoke,
                "Parameters": {"FunctionName": "sdk-echo", "Payload": {"fail": True}},
                "ResultPath": "$.bad",
                "End": True,
            },
        },
    }
    done = _run(lambda_server, "sdk-lambda", definition, {"n": 21})
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    output = json.loads(done["output"])
    assert output["good"]["StatusCode"] == 200
    assert json.loads(output["good"]["Payload"]) == {"twice": 42}  # text, not JSON
    assert output["good"]["ExecutedVersion"] == "$LATEST"
    assert output["bad"]["FunctionError"] == "Unhandled"
    assert json.loads(output["bad"]["Payload"])["errorType"] == "ValueError"


def test_sts_and_an_unknown_function(lambda_server: MontemapServer) -> None:
    definition = {
        "StartAt": "Who",
        "States": {
            "Who": {
                "Type": "Task",
                "Resource": f"{SDK}sts:getCallerIdentity",
                "ResultPath": "$.who",
                "Next": "Missing",
            },
            "Missing": {
                "Type": "Task",
                "Resource": f"{SDK}lambda:getFunction",
                "Parameters": {"FunctionName": "sdk-no-such-function"},
                "End": True,
            },
        },
    }
    done = _run(lambda_server, "sdk-sts", definition)
    assert done["status"] == "FAILED"
    assert done["error"] == "Lambda.ResourceNotFoundException"
    history = lambda_server.client().get_execution_history(executionArn=done["executionArn"])
    succeeded = [e for e in history["events"] if e["type"] == "TaskSucceeded"]
    who = json.loads(succeeded[0]["taskSucceededEventDetails"]["output"])
    assert who["Account"] == "123456789012" and who["Arn"].startswith("arn:aws:")


def test_unknown_actions_and_patterns_are_refused_before_scheduling(
    lambda_server: MontemapServer,
) -> None:
    for resource, reason in (
        (f"{SDK}sfn:launchRockets", "names no sfn action"),
        (f"{SDK}lambda:invoke.sync", "integration pattern '.sync'"),
        (f"{SDK}sfn:StartExecution", "names no sfn action"),  # actions are camelCase
    ):
        definition = {
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": resource, "End": True}},
        }
        name = "sdk-refused-" + resource.rsplit(":", 1)[-1].replace(".", "-")
        done = _run(lambda_server, name, definition)
        assert done["status"] == "FAILED", resource
        assert done["error"] == "States.Runtime", resource
        assert reason in done["cause"], (resource, done["cause"])
        events = lambda_server.client().get_execution_history(executionArn=done["executionArn"])
        assert not [e for e in events["events"] if e["type"] == "TaskScheduled"]


def test_unknown_parameter_names_say_where(lambda_server: MontemapServer) -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": f"{SDK}sfn:listExecutions",
                "Parameters": {"StateMachine": "x"},
                "End": True,
            }
        },
    }
    done = _run(lambda_server, "sdk-bad-field", definition)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.Runtime"
    assert "The field 'StateMachine' at '$' is not supported" in done["cause"]
    assert "StateMachineArn" in done["cause"]
