"""ASL cases where montemap once diverged from AWS or could be knocked over by a
definition or an input, run through boto3 on a real ``montemap server``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from montemap.engine.choice import evaluate_rule
from montemap.testing import MontemapServer, wait_for_execution

ROLE_ARN = "arn:aws:iam::123456789012:role/montemap-test"


def execute(client: Any, definition: dict[str, Any], data: Any = None) -> dict[str, Any]:
    """Create a state machine, run it on ``data`` and describe the ended execution."""
    arn = client.create_state_machine(
        name=f"t-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    started = client.start_execution(
        stateMachineArn=arn, input=json.dumps({} if data is None else data)
    )
    return wait_for_execution(client, started["executionArn"])


def one_state(state: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**top, "StartAt": "S", "States": {"S": state}}


def invalid_definition(client: Any, definition: dict[str, Any]) -> str:
    with pytest.raises(client.exceptions.InvalidDefinition) as info:
        client.create_state_machine(
            name=f"t-{uuid.uuid4().hex[:12]}",
            definition=json.dumps(definition),
            roleArn=ROLE_ARN,
        )
    return str(info.value)


# --------------------------------------------------------------------------- Choice


def test_string_matches_with_many_wildcards_answers_at_once(sfn_client: Any) -> None:
    """A ``StringMatches`` pattern of many ``*`` on a long value was a backtracking
    regex that held the server's event loop for hours; it is matched in a scan now."""
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.s", "StringMatches": "*a*a*a*a*a*a*a*a*a*a*b", "Next": "Y"},
                    {"Variable": "$.s", "StringMatches": "a*\\**a", "Next": "Star"},
                ],
                "Default": "N",
            },
            "Y": {"Type": "Succeed"},
            "Star": {"Type": "Pass", "Result": "star", "End": True},
            "N": {"Type": "Pass", "Result": "none", "End": True},
        },
    }
    began = time.monotonic()
    done = execute(sfn_client, definition, {"s": "a" * 3000})
    assert time.monotonic() - began < 20
    assert (done["status"], done["output"]) == ("SUCCEEDED", '"none"')
    assert execute(sfn_client, definition, {"s": "a" * 3000 + "b"})["status"] == "SUCCEEDED"
    assert execute(sfn_client, definition, {"s": "ab*cda"})["output"] == '"star"'
    assert execute(sfn_client, definition, {"s": "abcda"})["output"] == '"none"'


@pytest.mark.parametrize(
    ("pattern", "value", "matched"),
    [
        ("*.log", "x.log", True),
        ("*.log", "x.logs", False),
        ("a*a", "a", False),
        ("a*a", "aa", True),
        ("*", "", True),
        ("", "", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\\\*", "a\\xyz", True),
        ("**b**", "abc", True),
        ("x*y*z", "xzyz", True),
        ("x*y*z", "xzy", False),
    ],
)
def test_string_matches_semantics(pattern: str, value: str, matched: bool) -> None:
    rule = {"Variable": "$.s", "StringMatches": pattern, "Next": "Y"}
    assert evaluate_rule(rule, {"s": value}, context={}, variables={}) is matched


# --------------------------------------------------------------------------- intrinsics


def _string_to_json(client: Any, text: str) -> dict[str, Any]:
    state = {"Type": "Pass", "Parameters": {"a.$": "States.StringToJson($.x)"}, "End": True}
    return execute(client, one_state(state), {"x": text})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ("1e400", "the number 1e400 is out of range"),
        ("[-1e400]", "the number -1e400 is out of range"),
        ("1" + "0" * 400, "is out of range"),
    ],
    ids=["deep", "overflow", "negative-overflow", "huge-integer"],
)
def test_string_to_json_refuses_what_json_cannot_hold(
    shared_sfn_client: Any, text: str, problem: str
) -> None:
    """A deep document was an internal ``RecursionError`` (``States.Runtime``), and a
    number beyond a double's range came out as ``Infinity``: invalid JSON in the
    execution's output. Both are the catchable ``States.IntrinsicFailure`` now."""
    done = _string_to_json(shared_sfn_client, text)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.IntrinsicFailure"
    assert "States.StringToJson could not parse its argument as JSON" in done["cause"]
    assert problem in done["cause"]


def test_string_to_json_depth_check_is_linear(shared_sfn_client: Any) -> None:
    """The depth check runs before parsing; text holding a string left open after
    many escaped quotes must not make it rescan the rest once per quote."""
    text = "[" * 600 + '"' + '\\"' * 50_000
    began = time.monotonic()
    done = _string_to_json(shared_sfn_client, text)
    assert time.monotonic() - began < 10
    assert done["error"] == "States.IntrinsicFailure"
    assert "nested too deeply" in done["cause"]


def test_string_to_json_still_parses_deep_and_large_values(shared_sfn_client: Any) -> None:
    text = "[" * 100 + "1.5e300, 12345678901234567890" + "]" * 100
    done = _string_to_json(shared_sfn_client, text)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["a"] == json.loads(text)
    strings = _string_to_json(shared_sfn_client, json.dumps({"s": "[" * 600}))
    assert json.loads(strings["output"]) == {"a": {"s": "[" * 600}}


# --------------------------------------------------------------------------- Fail


def test_fail_paths_to_values_that_are_not_strings_read_as_json(shared_sfn_client: Any) -> None:
    """``ErrorPath``/``CausePath`` (and JSONata ``Error``/``Cause``) selecting a
    non-string gave Python's spelling: ``True``, ``{'a': 1}``."""
    state = {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}
    data = {"e": True, "c": {"a": [1, None, "x"]}}
    done = execute(shared_sfn_client, one_state(state), data)
    assert (done["error"], done["cause"]) == ("true", '{"a":[1,null,"x"]}')
    jsonata = {"Type": "Fail", "Error": "{% $states.input.e %}", "Cause": "{% $states.input.c %}"}
    done = execute(shared_sfn_client, one_state(jsonata, QueryLanguage="JSONata"), data)
    assert (done["error"], done["cause"]) == ("true", '{"a":[1,null,"x"]}')
    done = execute(shared_sfn_client, one_state(state), {"e": "Custom", "c": "plain"})
    assert (done["error"], done["cause"]) == ("Custom", "plain")


# --------------------------------------------------------------------------- Map


def _map(**fields: Any) -> dict[str, Any]:
    processor = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}
    return {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}


def test_a_negative_max_concurrency_from_the_input_is_refused(shared_sfn_client: Any) -> None:
    """The definition's ``MaxConcurrency`` must be non-negative; one read from the
    input (or a JSONata expression) ran as "unlimited" instead of failing."""
    state = _map(ItemsPath="$.xs", MaxConcurrencyPath="$.mc")
    done = execute(shared_sfn_client, one_state(state), {"xs": [1], "mc": -1})
    assert done["status"] == "FAILED"
    assert done["error"] == "States.Runtime"
    assert 'The MaxConcurrencyPath field refers to value "-1"' in done["cause"]
    assert execute(shared_sfn_client, one_state(state), {"xs": [1], "mc": 0})["output"] == "[1]"
    jsonata = one_state(_map(MaxConcurrency="{% -2 %}"), QueryLanguage="JSONata")
    done = execute(shared_sfn_client, jsonata, [1])
    assert done["error"] == "States.QueryEvaluationError"
    assert "The MaxConcurrency field must be a non-negative integer, but was: -2" in done["cause"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        ({"Type": "Pass", "End": False}, "must be true, not false at /States/S/End"),
        ({"Type": "Wait", "Seconds": True, "End": True}, "not true at /States/S/Seconds"),
        ({"Type": "Wait", "Seconds": None, "End": True}, "not null at /States/S/Seconds"),
        ({"Type": "Wait", "Timestamp": 5, "End": True}, "not 5 at /States/S/Timestamp"),
        ({"Type": {"a": 1}, "End": True}, 'not {"a":1} at /States/S/Type'),
        ({"Type": ["Pass"], "End": True}, 'not ["Pass"] at /States/S/Type'),
    ],
    ids=["end", "bool", "null", "number", "object", "array"],
)
def test_definition_errors_show_values_as_json(
    shared_sfn_client: Any, state: dict[str, Any], shown: str
) -> None:
    """Diagnostics quoted a wrong value as Python writes it (``False``, ``None``), and a
    ``Type`` that is an object or an array was a 500 ``InternalFailure``."""
    message = invalid_definition(shared_sfn_client, one_state(state))
    assert shown in message
    for python in ("False", "True", "None", "{'"):
        assert python not in message


# --------------------------------------------------------------------------- Lambda


FUNCTION = """
def check(event, context):
    return _inner(event["amount"])


def _inner(amount):
    raise ValueError(f"amount {amount} is too low")
"""


def test_a_function_error_cause_lists_the_function_frames_as_lambda_does(
    server_factory: Callable[..., MontemapServer], tmp_path: Path
) -> None:
    """A registered function's error was ``traceback.format_exception``'s last lines:
    a "Traceback (most recent call last)" header, montemap's own runner frame and a
    closing "ValueError: ..." line. Lambda's Python runtime reports ``errorMessage``,
    ``errorType``, ``requestId`` and the function's own frames only."""
    (tmp_path / "fn_checks.py").write_text(FUNCTION)
    (tmp_path / "functions.json").write_text(json.dumps({"Check": "fn_checks:check"}))
    server = server_factory(
        extra_args=["--no-cgroups", "--functions", str(tmp_path / "functions.json")],
        env={"PYTHONPATH": str(tmp_path)},
    )
    client = server.client()
    try:
        state = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "Check", "Payload": {"amount.$": "$.amount"}},
            "End": True,
        }
        done = execute(client, one_state(state), {"amount": 5})
    finally:
        client.close()
    assert (done["status"], done["error"]) == ("FAILED", "ValueError")
    cause = json.loads(done["cause"])
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorMessage"] == "amount 5 is too low"
    frames = cause["stackTrace"]
    assert [frame.split(", in ")[1].split("\n")[0] for frame in frames] == ["check", "_inner"]
    assert all(frame.startswith('  File "') and "fn_checks.py" in frame for frame in frames)
    assert "Traceback" not in done["cause"] and "montemap" not in done["cause"]
