"""The Map Run actions and RedriveExecution through boto3, on a real server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import eventually, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"


def _machine(client: Any, name: str, processor_states: dict[str, Any], **fields: Any) -> str:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Label": "Fan",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": next(iter(processor_states)),
                    "States": processor_states,
                },
                "End": True,
                **fields,
            }
        },
    }
    arn: str = client.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    return arn


def test_describe_list_and_children(sfn_client: Any) -> None:
    machine = _machine(sfn_client, "fan", {"P": {"Type": "Pass", "End": True}}, MaxConcurrency=3)
    arn = sfn_client.start_execution(
        stateMachineArn=machine, input=json.dumps({"items": list(range(5))})
    )["executionArn"]
    assert wait_for_execution(sfn_client, arn)["status"] == "SUCCEEDED"
    runs = sfn_client.list_map_runs(executionArn=arn)["mapRuns"]
    assert len(runs) == 1
    run = runs[0]
    assert run["executionArn"] == arn
    assert run["stateMachineArn"] == f"{machine}/Fan"
    assert ":mapRun:fan/Fan:" in run["mapRunArn"]
    assert "stopDate" in run
    described = sfn_client.describe_map_run(mapRunArn=run["mapRunArn"])
    assert described["status"] == "SUCCEEDED"
    assert described["maxConcurrency"] == 3
    assert described["itemCounts"]["succeeded"] == 5
    assert described["executionCounts"]["total"] == 5
    assert described["toleratedFailureCount"] == 0
    assert described["redriveCount"] == 0
    children = sfn_client.list_executions(mapRunArn=run["mapRunArn"])["executions"]
    assert len(children) == 5
    assert {c["mapRunArn"] for c in children} == {run["mapRunArn"]}
    assert all(c["stateMachineArn"] == f"{machine}/Fan" for c in children)
    child = sfn_client.describe_execution(executionArn=children[0]["executionArn"])
    assert child["mapRunArn"] == run["mapRunArn"]
    history = sfn_client.get_execution_history(executionArn=arn)["events"]
    started = next(e for e in history if e["type"] == "MapRunStarted")
    assert started["mapRunStartedEventDetails"]["mapRunArn"] == run["mapRunArn"]


def test_update_map_run(sfn_client: Any) -> None:
    activity = sfn_client.create_activity(name="fan-work")["activityArn"]
    machine = _machine(
        sfn_client,
        "fan-update",
        {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        MaxConcurrency=1,
    )
    arn = sfn_client.start_execution(
        stateMachineArn=machine, input=json.dumps({"items": [1, 2, 3]})
    )["executionArn"]
    runs = eventually(
        lambda: sfn_client.list_map_runs(executionArn=arn)["mapRuns"], what="a Map Run listed"
    )
    run_arn = runs[0]["mapRunArn"]
    sfn_client.update_map_run(mapRunArn=run_arn, maxConcurrency=3, toleratedFailurePercentage=50.0)
    described = sfn_client.describe_map_run(mapRunArn=run_arn)
    assert described["maxConcurrency"] == 3
    assert described["toleratedFailurePercentage"] == 50.0
    for _ in range(3):
        task = sfn_client.get_activity_task(activityArn=activity)
        sfn_client.send_task_success(taskToken=task["taskToken"], output=task["input"])
    assert wait_for_execution(sfn_client, arn)["status"] == "SUCCEEDED"

    with pytest.raises(ClientError) as err:
        sfn_client.update_map_run(mapRunArn=run_arn)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as err:
        sfn_client.describe_map_run(mapRunArn=run_arn[:-4] + "0000")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as err:
        sfn_client.describe_map_run(mapRunArn=arn)
    assert err.value.response["Error"]["Code"] == "InvalidArn"


def test_redrive_execution(sfn_client: Any) -> None:
    activity = sfn_client.create_activity(name="fan-redrive")["activityArn"]
    machine = _machine(
        sfn_client,
        "fan-redrive",
        {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        MaxConcurrency=1,
    )
    arn = sfn_client.start_execution(stateMachineArn=machine, input=json.dumps({"items": [1, 2]}))[
        "executionArn"
    ]
    with pytest.raises(ClientError) as err:
        sfn_client.redrive_execution(executionArn=arn)
    assert err.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    task = sfn_client.get_activity_task(activityArn=activity)
    sfn_client.send_task_failure(taskToken=task["taskToken"], error="Boom", cause="first try")
    failed = wait_for_execution(sfn_client, arn)
    assert failed["status"] == "FAILED"
    assert failed["redriveStatus"] == "REDRIVABLE"

    redriven = sfn_client.redrive_execution(executionArn=arn)
    assert "redriveDate" in redriven
    for _ in range(2):
        task = sfn_client.get_activity_task(activityArn=activity)
        sfn_client.send_task_success(taskToken=task["taskToken"], output=task["input"])
    done = wait_for_execution(sfn_client, arn)
    assert done["status"] == "SUCCEEDED"
    assert done["redriveCount"] == 1
    assert json.loads(done["output"]) == [1, 2]
    run_arn = sfn_client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
    described = sfn_client.describe_map_run(mapRunArn=run_arn)
    assert described["redriveCount"] == 1 and "redriveDate" in described
    types = [e["type"] for e in sfn_client.get_execution_history(executionArn=arn)["events"]]
    assert "ExecutionRedriven" in types and "MapRunRedriven" in types
    with pytest.raises(ClientError) as err:
        sfn_client.redrive_execution(executionArn=arn + "-missing")
    assert err.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_listed_children_have_their_item_count(sfn_client: Any) -> None:
    # AWS ExecutionListItem.itemCount: the items a child processed, returned when
    # ListExecutions is given a mapRunArn (not with a stateMachineArn).
    pass_state = {"P": {"Type": "Pass", "End": True}}
    batched = _machine(sfn_client, "fan-batched", pass_state, ItemBatcher={"MaxItemsPerBatch": 2})
    single = _machine(sfn_client, "fan-single", pass_state)
    # An item shaped like a batch still counts as one item where nothing is batched.
    items = [1, 2, 3, 4, {"Items": [1, 2, 3]}]
    for machine, expected in ((batched, [1, 2, 2]), (single, [1, 1, 1, 1, 1])):
        arn = sfn_client.start_execution(
            stateMachineArn=machine, input=json.dumps({"items": items})
        )["executionArn"]
        assert wait_for_execution(sfn_client, arn)["status"] == "SUCCEEDED"
        run_arn = sfn_client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
        children = sfn_client.list_executions(mapRunArn=run_arn)["executions"]
        assert [c["itemCount"] for c in children] == expected  # newest first
        listed = sfn_client.list_executions(stateMachineArn=machine)["executions"]
        assert all("itemCount" not in e for e in listed)


def test_listing_the_children_of_an_unknown_map_run(sfn_client: Any) -> None:
    machine = _machine(sfn_client, "fan-unknown", {"P": {"Type": "Pass", "End": True}})
    arn = sfn_client.start_execution(stateMachineArn=machine, input=json.dumps({"items": [1]}))[
        "executionArn"
    ]
    assert wait_for_execution(sfn_client, arn)["status"] == "SUCCEEDED"
    run_arn = sfn_client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
    assert len(sfn_client.list_executions(mapRunArn=run_arn)["executions"]) == 1
    with pytest.raises(ClientError) as err:
        sfn_client.list_executions(mapRunArn=run_arn[:-4] + "0000")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
