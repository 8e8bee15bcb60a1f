"""TestState through boto3 on a real server: one state, run in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from montemap.testing.server import MontemapServer


@pytest.fixture(scope="module")
def client(shared_montemap_server: MontemapServer) -> Iterator[Any]:
    """TestState's model asks for the host prefix ``sync-``: off for a local endpoint."""
    made = shared_montemap_server.client(inject_host_prefix=False)
    yield made
    made.close()


def test_pass_state_output_and_next_state(client: Any) -> None:
    state = {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, 1)"}, "Next": "After"}
    out = client.test_state(definition=json.dumps(state), input='{"a": 41}')
    assert out["status"] == "SUCCEEDED"
    assert json.loads(out["output"]) == {"sum": 42}
    assert out["nextState"] == "After"
    assert "inspectionData" not in out


def test_end_state_has_no_next_state(client: Any) -> None:
    state = {"Type": "Pass", "Result": [1], "ResultPath": "$.r", "End": True}
    out = client.test_state(definition=json.dumps(state), input='{"x": 0}')
    assert json.loads(out["output"]) == {"x": 0, "r": [1]}
    assert "nextState" not in out


def test_choice_names_the_matching_branch(client: Any) -> None:
    state = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
            {"Variable": "$.n", "NumericLessThan": 0, "Next": "Negative"},
        ],
        "Default": "Small",
    }
    for value, expected in ((11, "Big"), (-1, "Negative"), (3, "Small")):
        out = client.test_state(definition=json.dumps(state), input=json.dumps({"n": value}))
        assert (out["status"], out["nextState"]) == ("SUCCEEDED", expected)
        assert json.loads(out["output"]) == {"n": value}


def test_fail_state(client: Any) -> None:
    out = client.test_state(
        definition=json.dumps({"Type": "Fail", "Error": "Bad", "Cause": "because"}),
        inspectionLevel="DEBUG",
    )
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "Bad", "because")
    assert out["inspectionData"]["input"] == "{}"


def test_retriable_and_caught_errors(client: Any) -> None:
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "c"}}}
    state: dict[str, Any] = {
        "Type": "Parallel",
        "Branches": [failing],
        "Retry": [{"ErrorEquals": ["Oops"], "IntervalSeconds": 3}],
        "Next": "Done",
    }
    out = client.test_state(definition=json.dumps(state), inspectionLevel="DEBUG")
    assert (out["status"], out["error"], out["cause"]) == ("RETRIABLE", "Oops", "c")
    assert out["inspectionData"]["errorDetails"] == {
        "retryIndex": 0,
        "retryBackoffIntervalSeconds": 3,
    }
    state["Retry"] = [{"ErrorEquals": ["Oops"], "MaxAttempts": 0}]
    state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handler"}]
    out = client.test_state(definition=json.dumps(state), input='{"a": 1}')
    assert (out["status"], out["nextState"]) == ("CAUGHT_ERROR", "Handler")
    caught = json.loads(out["output"])
    assert caught == {"a": 1, "err": {"Error": "Oops", "Cause": "c"}}
    del state["Catch"], state["Retry"]
    out = client.test_state(definition=json.dumps(state))
    assert (out["status"], out["error"]) == ("FAILED", "Oops")


def test_state_of_a_whole_definition_jsonata_and_variables(client: Any) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Next": "Second"},
            "Second": {"Type": "Pass", "Output": "{% $states.input.a * $k %}", "End": True},
        },
    }
    out = client.test_state(
        definition=json.dumps(definition),
        stateName="Second",
        input='{"a": 2}',
        variables='{"k": 5}',
    )
    assert (out["status"], out["output"]) == ("SUCCEEDED", "10")


def test_wait_state_does_not_wait(client: Any) -> None:
    state = {"Type": "Wait", "Seconds": 3600, "Next": "Later"}
    out = client.test_state(definition=json.dumps(state), input='{"k": 1}')
    assert (out["status"], out["nextState"], out["output"]) == ("SUCCEEDED", "Later", '{"k":1}')


def test_invalid_state_is_refused(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidDefinition):
        client.test_state(definition=json.dumps({"Type": "Pass", "Bogus": 1, "End": True}))
    with pytest.raises(client.exceptions.InvalidDefinition):
        client.test_state(definition="{not json")
    with pytest.raises(client.exceptions.InvalidExecutionInput):
        client.test_state(definition=json.dumps({"Type": "Succeed"}), input="[")


def test_task_with_a_mocked_result(client: Any) -> None:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "nowhere", "Payload.$": "$"},
        "ResultSelector": {"body.$": "$.Payload.body"},
        "ResultPath": "$.out",
        "Next": "Done",
    }
    out = client.test_state(
        definition=json.dumps(state),
        input='{"k": 1}',
        mock={"result": json.dumps({"Payload": {"body": "hi"}, "StatusCode": 200})},
    )
    assert (out["status"], out["nextState"]) == ("SUCCEEDED", "Done")
    assert json.loads(out["output"]) == {"k": 1, "out": {"body": "hi"}}


def test_task_with_a_mocked_error_is_caught(client: Any) -> None:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "nowhere"},
        "Catch": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "Next": "Later"}],
        "End": True,
    }
    out = client.test_state(
        definition=json.dumps(state),
        mock={"errorOutput": {"error": "Lambda.TooManyRequestsException", "cause": "busy"}},
    )
    assert (out["status"], out["nextState"]) == ("CAUGHT_ERROR", "Later")
    assert json.loads(out["output"]) == {
        "Error": "Lambda.TooManyRequestsException",
        "Cause": "busy",
    }
    with pytest.raises(client.exceptions.ValidationException):
        client.test_state(
            definition=json.dumps({"Type": "Pass", "End": True}), mock={"result": "{}"}
        )
    with pytest.raises(client.exceptions.ValidationException):
        client.test_state(definition=json.dumps(state), mock={"result": "{not json"})


def test_a_context_object_is_refused_rather_than_ignored(client: Any) -> None:
    """A ``context`` replaces the state's ``$$``: AWS takes one only with a mock, and
    montemap refuses it by name rather than run the state on a context of its own."""
    state = {"Type": "Pass", "Parameters": {"who.$": "$$.Execution.Name"}, "End": True}
    context = json.dumps({"Execution": {"Name": "given"}})
    with pytest.raises(client.exceptions.ValidationException, match="mock"):
        client.test_state(definition=json.dumps(state), context=context)
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    with pytest.raises(client.exceptions.ValidationException, match="context"):
        client.test_state(
            definition=json.dumps(task), context=context, mock={"result": json.dumps({})}
        )
