"""``arn:aws:states:::states:startExecution`` (request-response, ``.sync``, ``.sync:2``):
a state machine starting another, on a real server.

The child is a normal execution (ListExecutions shows it); ``.sync`` returns
DescribeExecution's response with Input/Output as JSON text, ``.sync:2`` as JSON
values; a child that fails fails the task with ``States.TaskFailed``; stopping the
parent stops a child started with ``.sync``; a server killed while a ``.sync`` state
waits finds the same child again on restart instead of starting a second one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from montemap.testing import MontemapServer, eventually, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/test"
RESOURCE = "arn:aws:states:::states:startExecution"

CHILD = {
    "StartAt": "Echo",
    "States": {"Echo": {"Type": "Pass", "Parameters": {"got.$": "$"}, "End": True}},
}
FAILING_CHILD = {
    "StartAt": "Boom",
    "States": {"Boom": {"Type": "Fail", "Error": "Child.Boom", "Cause": "it broke"}},
}


def _slow_child(seconds: int) -> dict[str, Any]:
    return {
        "StartAt": "Nap",
        "States": {"Nap": {"Type": "Wait", "Seconds": seconds, "Next": "Done"}, "Done": {
            "Type": "Pass", "Result": {"slept": seconds}, "End": True}},
    }  # fmt: skip


def _machine(client: Any, definition: dict[str, Any]) -> str:
    arn: str = client.create_state_machine(
        name=f"sm-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    return arn


def _parent(client: Any, pattern: str, parameters: dict[str, Any]) -> str:
    state = {"Type": "Task", "Resource": RESOURCE + pattern, "Parameters": parameters, "End": True}
    return _machine(client, {"StartAt": "Call", "States": {"Call": state}})


def _run(client: Any, machine: str, payload: Any = None) -> dict[str, Any]:
    arn = client.start_execution(stateMachineArn=machine, input=json.dumps(payload or {}))
    return wait_for_execution(client, arn["executionArn"])


def test_request_response_returns_the_start_and_the_child_runs(sfn: Any) -> None:
    child = _machine(sfn, CHILD)
    parent = _parent(
        sfn, "", {"StateMachineArn": child, "Input": {"n.$": "$.n", "parent.$": "$$.Execution.Id"}}
    )
    done = _run(sfn, parent, {"n": 7})
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert set(output) == {"ExecutionArn", "StartDate"}
    assert isinstance(output["StartDate"], int)
    listed = sfn.list_executions(stateMachineArn=child)["executions"]
    assert [e["executionArn"] for e in listed] == [output["ExecutionArn"]]
    ended = wait_for_execution(sfn, output["ExecutionArn"])
    assert ended["status"] == "SUCCEEDED"
    assert json.loads(ended["input"]) == {"n": 7, "parent": done["executionArn"]}


@pytest.mark.parametrize("pattern", [".sync", ".sync:2"])
def test_sync_returns_the_described_child(sfn: Any, pattern: str) -> None:
    child = _machine(sfn, CHILD)
    parent = _parent(sfn, pattern, {"StateMachineArn": child, "Input.$": "$", "Name": "kid"})
    done = _run(sfn, parent, {"n": 1})
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["Status"] == "SUCCEEDED"
    assert output["Name"] == "kid"
    assert output["StateMachineArn"] == child
    assert output["ExecutionArn"].endswith(":kid")
    assert isinstance(output["StartDate"], int) and isinstance(output["StopDate"], int)
    assert output["InputDetails"] == {"Included": True}
    if pattern == ".sync":
        assert json.loads(output["Input"]) == {"n": 1}
        assert json.loads(output["Output"]) == {"got": {"n": 1}}
    else:
        assert output["Input"] == {"n": 1}
        assert output["Output"] == {"got": {"n": 1}}


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        ("", "startExecution"),
        (".sync", "startExecution.sync"),
        (".sync:2", "startExecution.sync:2"),
    ],
)
def test_task_events_name_the_service_and_the_whole_action(
    sfn: Any, pattern: str, named: str
) -> None:
    child = _machine(sfn, CHILD)
    parent = _parent(sfn, pattern, {"StateMachineArn": child, "Input": {}})
    arn = sfn.start_execution(stateMachineArn=parent, input="{}")["executionArn"]
    assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"
    events = sfn.get_execution_history(executionArn=arn)["events"]
    named_by = {
        e["type"]: (details["resourceType"], details["resource"])
        for e in events
        for key, details in e.items()
        if key.startswith("task") and key.endswith("EventDetails")
    }
    assert {"TaskScheduled", "TaskStarted", "TaskSucceeded"} <= set(named_by)
    assert set(named_by.values()) == {("states", named)}
    # a .sync state shows the child it started (StartExecution's response) before it ends
    types = [e["type"] for e in events if e["type"].startswith("Task")]
    submitted = ["TaskSubmitted"] if pattern else []
    assert types[1:] == [
        "TaskScheduled",
        "TaskStarted",
        *submitted,
        "TaskSucceeded",
        "TaskStateExited",
    ]
    if pattern:
        (event,) = [e for e in events if e["type"] == "TaskSubmitted"]
        output = json.loads(event["taskSubmittedEventDetails"]["output"])
        assert output["ExecutionArn"].startswith(child.replace(":stateMachine:", ":execution:"))
        assert isinstance(output["StartDate"], int)


def test_input_given_as_a_string_is_the_childs_json_text(sfn: Any) -> None:
    child = _machine(sfn, CHILD)
    parent = _parent(sfn, ".sync:2", {"StateMachineArn": child, "Input": '{"a": [1, 2]}'})
    done = _run(sfn, parent)
    assert json.loads(done["output"])["Output"] == {"got": {"a": [1, 2]}}


def test_a_failed_child_fails_the_task(sfn: Any) -> None:
    child = _machine(sfn, FAILING_CHILD)
    parent = _parent(sfn, ".sync", {"StateMachineArn": child})
    done = _run(sfn, parent)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.TaskFailed"
    cause = json.loads(done["cause"])
    assert cause["Status"] == "FAILED"
    assert cause["Error"] == "Child.Boom"
    assert cause["Cause"] == "it broke"
    history = sfn.get_execution_history(executionArn=done["executionArn"])["events"]
    assert "TaskFailed" in [e["type"] for e in history]


def test_a_missing_state_machine_fails_the_task(sfn: Any) -> None:
    missing = _machine(sfn, CHILD) + "-gone"
    done = _run(sfn, _parent(sfn, ".sync", {"StateMachineArn": missing}))
    assert done["status"] == "FAILED"
    assert done["error"] == "StepFunctions.StateMachineDoesNotExistException"


def _running_child(client: Any, machine: str) -> str:
    def listed() -> str | None:
        found = client.list_executions(stateMachineArn=machine)["executions"]
        return str(found[0]["executionArn"]) if found else None

    return eventually(listed, timeout=20, what="the child started")


def test_stopping_the_parent_stops_a_sync_child(sfn: Any) -> None:
    child = _machine(sfn, _slow_child(300))
    parent = _parent(sfn, ".sync", {"StateMachineArn": child})
    arn = sfn.start_execution(stateMachineArn=parent)["executionArn"]
    child_arn = _running_child(sfn, child)
    sfn.stop_execution(executionArn=arn, error="Halt", cause="by the test")
    assert wait_for_execution(sfn, arn)["status"] == "ABORTED"
    assert wait_for_execution(sfn, child_arn)["status"] == "ABORTED"


@pytest.mark.parametrize(
    ("crash", "child_input"),
    [(True, {"k": 1}), (False, {"k": 1}), (True, {"k.$": "States.UUID()"})],
    ids=["killed", "stopped", "killed-input-evaluated-anew"],
)
def test_a_sync_state_run_again_after_a_restart_finds_the_same_child(
    server_factory: Callable[..., MontemapServer], crash: bool, child_input: dict[str, Any]
) -> None:
    """Also when the rerun evaluates the child's input to another value (a UUID): the
    child's name, derived from the state's entry, identifies it."""
    server = server_factory()
    client = server.client()
    child = _machine(client, _slow_child(3))
    parent = _parent(client, ".sync:2", {"StateMachineArn": child, "Input": child_input})
    arn = client.start_execution(stateMachineArn=parent)["executionArn"]
    child_arn = _running_child(client, child)
    server.restart(crash=crash)  # SIGKILL or SIGTERM while the .sync state waits on the child
    client = server.client()
    done = wait_for_execution(client, arn, timeout=60)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["ExecutionArn"] == child_arn
    executions = client.list_executions(stateMachineArn=child)["executions"]
    assert [e["executionArn"] for e in executions] == [child_arn]


def test_a_sync_state_that_times_out_stops_the_child(sfn: Any) -> None:
    child = _machine(sfn, _slow_child(300))
    state = {
        "Type": "Task",
        "Resource": RESOURCE + ".sync",
        "Parameters": {"StateMachineArn": child},
        "TimeoutSeconds": 1,
        "End": True,
    }
    parent = _machine(sfn, {"StartAt": "Call", "States": {"Call": state}})
    done = _run(sfn, parent)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.Timeout"
    child_arn = _running_child(sfn, child)
    assert wait_for_execution(sfn, child_arn)["status"] == "ABORTED"
