"""``lambda:invoke``'s parameters beyond FunctionName and Payload: ``Qualifier`` picks the
version or alias a task runs; ``InvocationType`` ``Event`` and ``DryRun`` answer with a status
code only (202, 204), as Lambda's Invoke does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import MontemapServer
from tests.lambda_api.helpers import create, eventually, package

ROLE = "arn:aws:iam::123456789012:role/sfn"


def _run(sfn: Any, name: str, definition: dict[str, Any]) -> dict[str, Any]:
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    run = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=run["executionArn"])
        return None if described["status"] == "RUNNING" else described

    return eventually(finished)


def _call(parameters: dict[str, Any], next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"Payload": {}, **parameters},
        "ResultSelector": {"said.$": "$.Payload", "version.$": "$.ExecutedVersion"},
        "ResultPath": f"$.{parameters.get('Qualifier', 'none')}",
    }
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def test_lambda_invoke_qualifier_runs_that_version_or_alias(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    create(lambda_client, "sm-qualified", {"index.py": "def handler(e, c):\n    return 'one'\n"})
    lambda_client.publish_version(FunctionName="sm-qualified")
    lambda_client.create_alias(FunctionName="sm-qualified", Name="live", FunctionVersion="1")
    lambda_client.update_function_code(
        FunctionName="sm-qualified",
        ZipFile=package({"index.py": "def handler(e, c):\n    return 'two'\n"}),
    )
    definition = {
        "StartAt": "Version",
        "States": {
            "Version": _call({"FunctionName": "sm-qualified", "Qualifier": "1"}, "Alias"),
            "Alias": _call({"FunctionName": "sm-qualified", "Qualifier": "live"}, "Latest"),
            "Latest": _call({"FunctionName": "sm-qualified"}, None),
        },
    }
    done = _run(lambda_server.client(), "sm-qualifier", definition)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["1"] == {"said": "one", "version": "1"}
    assert output["live"] == {"said": "one", "version": "1"}
    assert output["none"] == {"said": "two", "version": "$LATEST"}


def test_lambda_invoke_qualifier_differing_from_the_names_is_refused(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    create(lambda_client, "sm-qual-clash", {"index.py": "def handler(e, c):\n    return 1\n"})
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": _call({"FunctionName": "sm-qual-clash:$LATEST", "Qualifier": "7"}, None)
        },
    }
    done = _run(lambda_server.client(), "sm-qualifier-clash", definition)
    assert done["status"] == "FAILED"
    assert done["error"] == "Lambda.InvalidParameterValueException"
    assert "does not match the specified qualifier" in done["cause"]


def test_lambda_invoke_event_starts_the_function_and_answers_202(
    lambda_client: Any, lambda_server: MontemapServer, tmp_path: Path
) -> None:
    code = "def handler(e, c):\n    open(e['path'], 'w').write('ran')\n    return 'ignored'\n"
    create(lambda_client, "sm-event", {"index.py": code})
    marker = tmp_path / "ran.txt"
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "sm-event",
                    "InvocationType": "Event",
                    "Payload": {"path": str(marker)},
                },
                "ResultSelector": {"code.$": "$.StatusCode", "payload.$": "$.Payload"},
                "End": True,
            }
        },
    }
    done = _run(lambda_server.client(), "sm-invoke-event", definition)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"code": 202, "payload": ""}
    assert eventually(lambda: marker.read_text() if marker.exists() else None) == "ran"


def test_lambda_invoke_dry_run_answers_204_and_checks_the_name(
    lambda_client: Any, lambda_server: MontemapServer
) -> None:
    create(lambda_client, "sm-dry", {"index.py": "def handler(e, c):\n    return 1\n"})

    def dry(name: str) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": name, "InvocationType": "DryRun"},
            "ResultPath": "$.dry",
        }

    definition = {
        "StartAt": "Dry",
        "States": {
            "Dry": {**dry("sm-dry"), "Next": "Absent"},
            "Absent": {**dry("sm-no"), "End": True},
        },
    }
    done = _run(lambda_server.client(), "sm-invoke-dry", definition)
    assert done["status"] == "FAILED"
    assert done["error"] == "Lambda.ResourceNotFoundException"
    history = lambda_server.client().get_execution_history(executionArn=done["executionArn"])
    exited = next(e for e in history["events"] if e["type"] == "TaskStateExited")
    output = json.loads(exited["stateExitedEventDetails"]["output"])
    assert output["dry"]["StatusCode"] == 204 and output["dry"]["Payload"] == ""
