"""TestState's inspectionData at each level, as the API reference describes it.

INFO returns none; DEBUG and TRACE (no HTTP Task here) return the data processing
stages: JSONPath ``input``, ``afterInputPath``, ``afterParameters``, ``result``,
``afterResultSelector``, ``afterResultPath``; JSONata ``input``, ``afterArguments``,
``result``; and ``variables`` as they are after the state.
"""

from __future__ import annotations

import json
import uuid
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


def _data(out: dict[str, Any]) -> dict[str, Any]:
    """inspectionData with each JSON text parsed (errorDetails kept as it is)."""
    return {
        key: value if key == "errorDetails" else json.loads(value)
        for key, value in out["inspectionData"].items()
    }


def test_pass_state_shows_each_jsonpath_stage(client: Any) -> None:
    state = {
        "Type": "Pass",
        "InputPath": "$.order",
        "Parameters": {"id.$": "$.id", "n.$": "States.MathAdd($.n, 1)"},
        "ResultPath": "$.order.done",
        "OutputPath": "$.order",
        "Next": "After",
    }
    given = {"order": {"id": "a", "n": 1}, "other": True}
    out = client.test_state(
        definition=json.dumps(state), input=json.dumps(given), inspectionLevel="DEBUG"
    )
    assert (out["status"], out["nextState"]) == ("SUCCEEDED", "After")
    assert json.loads(out["output"]) == {"id": "a", "n": 1, "done": {"id": "a", "n": 2}}
    assert _data(out) == {
        "input": given,
        "afterInputPath": {"id": "a", "n": 1},
        "afterParameters": {"id": "a", "n": 2},
        "result": {"id": "a", "n": 2},
        "afterResultSelector": {"id": "a", "n": 2},
        "afterResultPath": {
            "order": {"id": "a", "n": 1, "done": {"id": "a", "n": 2}},
            "other": True,
        },
    }


def test_parameters_see_the_context_object(client: Any) -> None:
    state = {
        "Type": "Pass",
        "Parameters": {"name.$": "$$.State.Name", "run.$": "$$.Execution.Id"},
        "End": True,
    }
    out = client.test_state(definition=json.dumps(state), inspectionLevel="DEBUG")
    after = json.loads(out["inspectionData"]["afterParameters"])
    assert after["name"] == "TestState"
    assert after["run"].startswith("arn:aws:states:")
    assert json.loads(out["output"])["name"] == "TestState"


def test_info_level_has_no_inspection_data_and_trace_is_debug(client: Any) -> None:
    state = {"Type": "Pass", "Result": 1, "End": True}
    out = client.test_state(definition=json.dumps(state), inspectionLevel="INFO")
    assert "inspectionData" not in out
    trace = client.test_state(definition=json.dumps(state), inspectionLevel="TRACE")
    debug = client.test_state(definition=json.dumps(state), inspectionLevel="DEBUG")
    assert trace["inspectionData"] == debug["inspectionData"]
    assert json.loads(debug["inspectionData"]["result"]) == 1
    assert "nextState" not in debug


def test_task_stages_with_a_real_s3_call_and_assign(
    client: Any, shared_montemap_server: MontemapServer
) -> None:
    bucket = f"inspect-{uuid.uuid4().hex[:10]}"
    s3 = shared_montemap_server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"hello")
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
        "Parameters": {"Bucket.$": "$.b", "Key": "k.txt"},
        "ResultSelector": {"body.$": "$.Body"},
        "ResultPath": "$.got",
        "Assign": {"seen.$": "$.body"},
        "End": True,
    }
    out = client.test_state(
        definition=json.dumps(state),
        input=json.dumps({"b": bucket}),
        variables='{"before": 1}',
        inspectionLevel="DEBUG",
    )
    assert out["status"] == "SUCCEEDED", out
    assert json.loads(out["output"]) == {"b": bucket, "got": {"body": "hello"}}
    data = _data(out)
    assert data["afterParameters"] == {"Bucket": bucket, "Key": "k.txt"}
    assert data["result"]["Body"] == "hello"
    assert data["result"]["ContentLength"] == 5
    assert data["afterResultSelector"] == {"body": "hello"}
    assert data["afterResultPath"] == {"b": bucket, "got": {"body": "hello"}}
    assert data["variables"] == {"before": 1, "seen": "hello"}
    s3.delete_object(Bucket=bucket, Key="k.txt")
    s3.delete_bucket(Bucket=bucket)
    s3.close()


def test_mocked_task_result_and_jsonata_stages(client: Any) -> None:
    state = {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"FunctionName": "f", "Payload": {"x": "{% $states.input.a * 2 %}"}},
        "Assign": {"last": "{% $states.result.Payload %}"},
        "Output": "{% $states.result.Payload + $k %}",
        "Next": "Done",
    }
    out = client.test_state(
        definition=json.dumps(state),
        input='{"a": 3}',
        variables='{"k": 10}',
        inspectionLevel="DEBUG",
        mock={"result": '{"Payload": 6, "StatusCode": 200}'},
    )
    assert (out["status"], out["nextState"], out["output"]) == ("SUCCEEDED", "Done", "16")
    assert _data(out) == {
        "input": {"a": 3},
        "afterArguments": {"FunctionName": "f", "Payload": {"x": 6}},
        "result": {"Payload": 6, "StatusCode": 200},
        "variables": {"k": 10, "last": 6},
    }


def test_choice_wait_succeed_show_input_stages_and_assigned_variables(client: Any) -> None:
    choice = {
        "Type": "Choice",
        "InputPath": "$.v",
        "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 1, "Assign": {"big.$": "$.n"}, "Next": "Big"}
        ],
        "Default": "Small",
    }
    out = client.test_state(
        definition=json.dumps(choice), input='{"v": {"n": 5}}', inspectionLevel="DEBUG"
    )
    assert (out["status"], out["nextState"]) == ("SUCCEEDED", "Big")
    assert _data(out) == {
        "input": {"v": {"n": 5}},
        "afterInputPath": {"n": 5},
        "variables": {"big": 5},
    }
    out = client.test_state(
        definition=json.dumps(choice), input='{"v": {"n": 0}}', inspectionLevel="DEBUG"
    )
    assert (out["status"], out["nextState"]) == ("SUCCEEDED", "Small")
    assert "variables" not in out["inspectionData"]
    choice["QueryLanguage"] = "JSONata"
    del choice["InputPath"]
    choice["Choices"] = [
        {"Condition": "{% $states.input.n > 1 %}", "Assign": {"big": 1}, "Next": "Big"}
    ]
    out = client.test_state(
        definition=json.dumps(choice),
        input='{"n": 0}',
        variables='{"k": [1]}',
        inspectionLevel="DEBUG",
    )
    assert (out["status"], out["nextState"]) == ("SUCCEEDED", "Small")
    assert _data(out) == {"input": {"n": 0}, "variables": {"k": [1]}}
    wait = {"Type": "Wait", "Seconds": 5, "InputPath": "$.v", "End": True}
    out = client.test_state(
        definition=json.dumps(wait), input='{"v": [1]}', inspectionLevel="DEBUG"
    )
    assert (out["status"], out["output"]) == ("SUCCEEDED", "[1]")
    assert "nextState" not in out
    assert _data(out) == {"input": {"v": [1]}, "afterInputPath": [1]}
    succeed = {"Type": "Succeed", "InputPath": "$.v"}
    out = client.test_state(
        definition=json.dumps(succeed), input='{"v": 2}', inspectionLevel="DEBUG"
    )
    assert _data(out) == {"input": {"v": 2}, "afterInputPath": 2}


def test_fail_state_and_failed_task_stop_at_the_failing_stage(client: Any) -> None:
    fail = {"Type": "Fail", "ErrorPath": "$.e", "Cause": "why"}
    out = client.test_state(
        definition=json.dumps(fail), input='{"e": "Boom"}', inspectionLevel="DEBUG"
    )
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "Boom", "why")
    assert _data(out) == {"input": {"e": "Boom"}}
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f"},
        "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 2}],
        "End": True,
    }
    out = client.test_state(
        definition=json.dumps(task),
        inspectionLevel="DEBUG",
        mock={"errorOutput": {"error": "Lambda.ServiceException", "cause": "down"}},
    )
    assert (out["status"], out["error"]) == ("RETRIABLE", "Lambda.ServiceException")
    assert _data(out) == {
        "input": {},
        "afterInputPath": {},
        "afterParameters": {"FunctionName": "f"},
        "errorDetails": {"retryIndex": 0, "retryBackoffIntervalSeconds": 2},
    }


def test_result_selector_failure_is_a_runtime_failure_not_retried(client: Any) -> None:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f"},
        "ResultSelector": {"x.$": "$.missing"},
        "Retry": [{"ErrorEquals": ["States.ALL"]}],
        "End": True,
    }
    out = client.test_state(
        definition=json.dumps(state), inspectionLevel="DEBUG", mock={"result": "{}"}
    )
    assert (out["status"], out["error"]) == ("FAILED", "States.Runtime")
    assert json.loads(out["inspectionData"]["result"]) == {}
    assert "afterResultSelector" not in out["inspectionData"]


def test_parameters_failure_shows_the_stages_before_it(client: Any) -> None:
    state = {"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "End": True}
    out = client.test_state(definition=json.dumps(state), input='{"a": 1}', inspectionLevel="DEBUG")
    assert (out["status"], out["error"]) == ("FAILED", "States.Runtime")
    assert _data(out) == {"input": {"a": 1}, "afterInputPath": {"a": 1}}
    jsonata = {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": "{% $number('x') + 1 %}",
        "End": True,
    }
    out = client.test_state(
        definition=json.dumps(jsonata), inspectionLevel="DEBUG", mock={"result": "{}"}
    )
    assert (out["status"], out["error"]) == ("FAILED", "States.QueryEvaluationError")
    assert _data(out) == {"input": {}}
