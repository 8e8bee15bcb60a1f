"""State machines calling created functions: ``lambda:invoke`` and plain function ARNs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import MontemapServer
from tests.lambda_api.helpers import create, eventually

ROLE = "arn:aws:iam::123456789012:role/sfn"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:sm-double"


def _run(sfn: Any, name: str, definition: dict[str, Any], payload: Any) -> dict[str, Any]:
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    run = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(payload))

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=run["executionArn"])
        return None if described["status"] == "RUNNING" else described

    return eventually(finished)


def _invoke_state(function_name: str, next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_name, "Payload.$": "$"},
        "ResultSelector": {"value.$": "$.Payload.value", "version.$": "$.ExecutedVersion"},
    }
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def test_lambda_invoke_by_name_arn_and_qualified_arn(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    create(
        lambda_client,
        "sm-double",
        {"index.py": "def handler(e, c):\n    return {'value': e['value'] * 2}\n"},
    )
    lambda_client.publish_version(FunctionName="sm-double")
    lambda_client.create_alias(FunctionName="sm-double", Name="prod", FunctionVersion="1")
    names = ["sm-double", ARN, f"{ARN}:$LATEST", f"{ARN}:prod", "sm-double:1"]
    states = {
        f"S{i}": {
            **_invoke_state(n, f"S{i + 1}" if i + 1 < len(names) else None),
            "ResultPath": f"$.r{i}",
            "Parameters": {"FunctionName": n, "Payload": {"value.$": "$.value"}},
        }
        for i, n in enumerate(names)
    }
    states["Legacy"] = {"Type": "Task", "Resource": ARN, "ResultPath": "$.legacy", "Next": "S0"}
    definition = {"StartAt": "Legacy", "States": states}
    done = _run(lambda_server.client(), "sm-lambda-names", definition, {"value": 5})
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["legacy"] == {"value": 10}
    versions = [output[f"r{i}"]["version"] for i in range(len(names))]
    assert versions == ["$LATEST", "$LATEST", "$LATEST", "1", "1"]
    assert all(output[f"r{i}"]["value"] == 10 for i in range(len(names)))


def test_function_errors_and_missing_functions_in_a_state_machine(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    create(
        lambda_client,
        "sm-refuse",
        {
            "index.py": "class Declined(Exception):\n    pass\ndef handler(e, c):\n    raise Declined('no')\n"
        },
    )
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                **_invoke_state("sm-refuse", None),
                "Catch": [
                    {"ErrorEquals": ["Declined"], "ResultPath": "$.caught", "Next": "Missing"}
                ],
            },
            "Missing": _invoke_state(f"{ARN.replace('sm-double', 'sm-absent')}:$LATEST", None),
        },
    }
    done = _run(lambda_server.client(), "sm-lambda-errors", definition, {"value": 1})
    assert done["status"] == "FAILED"
    assert done["error"] == "Lambda.ResourceNotFoundException"
    history = lambda_server.client().get_execution_history(executionArn=done["executionArn"])
    failed = next(e for e in history["events"] if e["type"] == "TaskFailed")
    caught = failed["taskFailedEventDetails"]
    assert caught["error"] == "Declined"
    assert json.loads(caught["cause"])["errorMessage"] == "no"


def test_builtin_functions_keep_their_names(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    builtin = ARN.replace("sm-double", "PartitionInventory")
    definition = {"StartAt": "Call", "States": {"Call": _invoke_state(f"{builtin}:$LATEST", None)}}
    done = _run(lambda_server.client(), "sm-builtin", definition, {"value": 1})
    # the builtin itself ran (and refused an event without its fields)
    assert done["status"] == "FAILED"
    assert done["error"] == "FunctionInputError", done
    config = lambda_client.get_function_configuration(FunctionName="PartitionInventory")
    assert config["Handler"] == "montemap.workflows.functions.partition_inventory"
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.update_function_configuration(FunctionName="PartitionInventory", Timeout=5)
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.delete_function(FunctionName="PartitionInventory")
