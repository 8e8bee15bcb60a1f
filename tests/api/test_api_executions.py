"""Execution and activity actions through boto3 against a real server (engine behind it)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from montemap.testing import eventually, wait_for_execution

from .helpers import PASS_DEFINITION, ROLE_ARN, machine, unique

ACCOUNT_PREFIX = "arn:aws:states:us-east-1:123456789012"
WAIT_DEFINITION = json.dumps(
    {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
)


def test_start_and_describe(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    sm = machine(client)
    started = client.start_execution(stateMachineArn=sm, name="run-1", input='{"a": 1}')
    sm_name = sm.rsplit(":", 1)[1]
    assert started["executionArn"] == f"{ACCOUNT_PREFIX}:execution:{sm_name}:run-1"
    assert isinstance(started["startDate"], datetime)
    done = wait_for_execution(client, started["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert done["stateMachineArn"] == sm
    assert done["name"] == "run-1"
    assert json.loads(done["input"]) == {"a": 1}
    assert done["inputDetails"] == {"included": True}
    assert json.loads(done["output"]) == {"ok": True}
    assert done["outputDetails"] == {"included": True}
    assert done["stopDate"] >= done["startDate"]
    assert done["redriveCount"] == 0
    metadata = client.describe_execution(
        executionArn=started["executionArn"], includedData="METADATA_ONLY"
    )
    assert "input" not in metadata
    assert "output" not in metadata


def test_start_errors(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    missing = f"{ACCOUNT_PREFIX}:stateMachine:{unique()}"
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.start_execution(stateMachineArn=missing)
    sm = machine(client)
    with pytest.raises(client.exceptions.InvalidName):
        client.start_execution(stateMachineArn=sm, name="bad name")
    with pytest.raises(client.exceptions.InvalidExecutionInput):
        client.start_execution(stateMachineArn=sm, input="not json")
    client.start_execution(stateMachineArn=sm, name="dup", input="{}")
    with pytest.raises(client.exceptions.ExecutionAlreadyExists):
        client.start_execution(stateMachineArn=sm, name="dup", input='{"other": 1}')


def test_describe_execution_errors(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    with pytest.raises(client.exceptions.InvalidArn):
        client.describe_execution(executionArn="invalid_execution_arn")
    missing = f"{ACCOUNT_PREFIX}:execution:{unique()}:nope"
    with pytest.raises(client.exceptions.ExecutionDoesNotExist):
        client.describe_execution(executionArn=missing)
    with pytest.raises(client.exceptions.ExecutionDoesNotExist):
        client.get_execution_history(executionArn=missing)


def test_stop_execution(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    sm = machine(client, WAIT_DEFINITION)
    arn = client.start_execution(stateMachineArn=sm)["executionArn"]
    assert client.describe_execution(executionArn=arn)["status"] == "RUNNING"
    stopped = client.stop_execution(executionArn=arn, error="Halt", cause="test")
    assert isinstance(stopped["stopDate"], datetime)
    described = client.describe_execution(executionArn=arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED",
        "Halt",
        "test",
    )


def test_history(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    arn = client.start_execution(stateMachineArn=machine(client))["executionArn"]
    wait_for_execution(client, arn)
    events = client.get_execution_history(executionArn=arn)["events"]
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert all(isinstance(e["timestamp"], datetime) for e in events)
    assert events[0]["executionStartedEventDetails"]["roleArn"] == ROLE_ARN
    reverse = client.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
    assert [e["id"] for e in reverse] == [4, 3, 2, 1]
    page = client.get_execution_history(executionArn=arn, maxResults=3)
    assert len(page["events"]) == 3
    rest = client.get_execution_history(executionArn=arn, maxResults=3, nextToken=page["nextToken"])
    assert [e["id"] for e in rest["events"]] == [4]
    without_data = client.get_execution_history(executionArn=arn, includeExecutionData=False)
    assert "input" not in without_data["events"][0]["executionStartedEventDetails"]


def test_list_executions(sfn_client: Any) -> None:
    client = sfn_client
    sm = machine(client)
    arns = [client.start_execution(stateMachineArn=sm)["executionArn"] for _ in range(3)]
    for arn in arns:
        wait_for_execution(client, arn)
    first = client.list_executions(stateMachineArn=sm, maxResults=2)
    second = client.list_executions(stateMachineArn=sm, maxResults=2, nextToken=first["nextToken"])
    listed = [e["executionArn"] for e in first["executions"] + second["executions"]]
    assert sorted(listed) == sorted(arns)
    assert "nextToken" not in second
    item = first["executions"][0]
    assert {"executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate"} <= set(
        item
    )
    assert client.list_executions(stateMachineArn=sm, statusFilter="RUNNING")["executions"] == []
    assert (
        len(client.list_executions(stateMachineArn=sm, statusFilter="SUCCEEDED")["executions"]) == 3
    )


def test_list_executions_errors(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    with pytest.raises(client.exceptions.ValidationException):
        client.list_executions()
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.list_executions(stateMachineArn=f"{ACCOUNT_PREFIX}:stateMachine:{unique()}")
    with pytest.raises(client.exceptions.InvalidArn):
        client.list_executions(stateMachineArn="invalid_state_machine_arn")
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.list_executions(stateMachineArn=machine(client), statusFilter="succeeded")
    assert "Member must satisfy enum value set" in str(info.value)
    express = machine(client, type="EXPRESS")
    with pytest.raises(client.exceptions.StateMachineTypeNotSupported):
        client.list_executions(stateMachineArn=express)


def test_describe_state_machine_for_execution(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    sm = machine(client, WAIT_DEFINITION)
    arn = client.start_execution(stateMachineArn=sm)["executionArn"]
    client.update_state_machine(stateMachineArn=sm, definition=PASS_DEFINITION)
    described = client.describe_state_machine_for_execution(executionArn=arn)
    assert described["stateMachineArn"] == sm
    assert described["definition"] == WAIT_DEFINITION
    assert described["roleArn"] == ROLE_ARN
    assert isinstance(described["updateDate"], datetime)
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    client.stop_execution(executionArn=arn)


def test_activity_lifecycle(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    name = unique("act")
    created = client.create_activity(name=name, tags=[{"key": "a", "value": "1"}])
    arn = created["activityArn"]
    assert arn == f"{ACCOUNT_PREFIX}:activity:{name}"
    again = client.create_activity(name=name, tags=[{"key": "b", "value": "2"}])
    assert again["activityArn"] == arn
    assert again["creationDate"] == created["creationDate"]
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "1"}]
    described = client.describe_activity(activityArn=arn)
    assert (described["name"], described["creationDate"]) == (name, created["creationDate"])
    client.tag_resource(resourceArn=arn, tags=[{"key": "c", "value": "3"}])
    client.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "c", "value": "3"}]
    client.delete_activity(activityArn=arn)
    with pytest.raises(client.exceptions.ActivityDoesNotExist):
        client.describe_activity(activityArn=arn)
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.list_tags_for_resource(resourceArn=arn)
    with pytest.raises(client.exceptions.InvalidName):
        client.create_activity(name="no spaces allowed")
    with pytest.raises(client.exceptions.InvalidArn):
        client.describe_activity(activityArn=f"{ACCOUNT_PREFIX}:stateMachine:x")


def test_list_activities_pages(sfn_client: Any) -> None:
    names = [f"activity-{i}" for i in range(5)]
    for name in reversed(names):
        sfn_client.create_activity(name=name)
    first = sfn_client.list_activities(maxResults=2)
    assert [a["name"] for a in first["activities"]] == names[:2]
    paginator = sfn_client.get_paginator("list_activities")
    pages = paginator.paginate(PaginationConfig={"PageSize": 2})
    assert [a["name"] for page in pages for a in page["activities"]] == names
    with pytest.raises(sfn_client.exceptions.InvalidToken):
        sfn_client.list_activities(nextToken="bogus")


def activity_machine(client: Any) -> tuple[str, str]:
    activity = client.create_activity(name=unique("act"))["activityArn"]
    definition = json.dumps(
        {
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        }
    )
    return activity, machine(client, definition)


def test_activity_task_success(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    activity, sm = activity_machine(client)
    execution = client.start_execution(stateMachineArn=sm, input='{"batch": 7}')["executionArn"]
    task = client.get_activity_task(activityArn=activity, workerName="worker-1")
    assert json.loads(task["input"]) == {"batch": 7}
    client.send_task_heartbeat(taskToken=task["taskToken"])
    with pytest.raises(client.exceptions.InvalidOutput):
        client.send_task_success(taskToken=task["taskToken"], output="not json")
    client.send_task_success(taskToken=task["taskToken"], output='{"done": true}')
    done = wait_for_execution(client, execution)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"done": True}


def test_activity_task_failure(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    activity, sm = activity_machine(client)
    execution = client.start_execution(stateMachineArn=sm)["executionArn"]
    task = client.get_activity_task(activityArn=activity)
    client.send_task_failure(taskToken=task["taskToken"], error="Boom", cause="it broke")
    done = wait_for_execution(client, execution)
    assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Boom", "it broke")


def test_unknown_task_token(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    with pytest.raises(client.exceptions.InvalidToken):  # not a token the server issues
        client.send_task_success(taskToken="no-such-token", output="{}")


def test_get_activity_task_for_missing_activity(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    with pytest.raises(client.exceptions.ActivityDoesNotExist):
        client.get_activity_task(activityArn=f"{ACCOUNT_PREFIX}:activity:{unique()}")


def test_start_a_published_version(shared_sfn_client: Any) -> None:
    client = shared_sfn_client
    sm = machine(client, publish=True)
    client.update_state_machine(stateMachineArn=sm, definition=WAIT_DEFINITION)
    arn = client.start_execution(stateMachineArn=f"{sm}:1")["executionArn"]
    done = wait_for_execution(client, arn)
    assert done["status"] == "SUCCEEDED"  # version 1 is the Pass machine, not the Wait
    described = client.describe_state_machine_for_execution(executionArn=arn)
    assert described["definition"] == PASS_DEFINITION


def test_abandoned_poll_does_not_take_a_task(server_factory: Any) -> None:
    server = server_factory(extra_args=["--log-level", "debug"])
    impatient = server.client(read_timeout=1)
    client = server.client()
    try:
        activity, sm = activity_machine(client)
        with pytest.raises(ReadTimeoutError):
            impatient.get_activity_task(activityArn=activity, workerName="gone")
        eventually(  # the server saw it leave
            lambda: "client went away" in server.log_text(), what="'client went away' in the log"
        )
        execution = client.start_execution(stateMachineArn=sm)["executionArn"]
        task = client.get_activity_task(activityArn=activity, workerName="present")
        assert "taskToken" in task
        client.send_task_success(taskToken=task["taskToken"], output="{}")
        assert wait_for_execution(client, execution)["status"] == "SUCCEEDED"
    finally:
        impatient.close()
        client.close()


def test_running_execution_survives_a_crash(montemap_server: Any) -> None:
    client = montemap_server.client()
    try:
        arn = client.start_execution(stateMachineArn=machine(client, WAIT_DEFINITION))[
            "executionArn"
        ]
        montemap_server.restart(crash=True)
        assert client.describe_execution(executionArn=arn)["status"] == "RUNNING"
        client.stop_execution(executionArn=arn)
        assert client.describe_execution(executionArn=arn)["status"] == "ABORTED"
    finally:
        client.close()
