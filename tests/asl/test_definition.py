"""Loading and validating state machine definitions (montemap.asl.definition)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from tests.conformance.corpus import CASES_FILE

from montemap.asl.definition import (
    check_definition,
    format_invalid_definition,
    load_definition,
    validate_definition,
    validation_result,
)
from montemap.errors import DefinitionError, Diagnostic

CASES = CASES_FILE
ACTIVITY_ARN = "arn:aws:states:us-east-1:123456789012:activity:worker"
LAMBDA = "arn:aws:states:::lambda:invoke"


def one(state: Any, **top: Any) -> dict[str, Any]:
    """A state machine whose only state is ``S``."""
    return {"StartAt": "S", "States": {"S": state}, **top}


def errors(definition: Any) -> list[tuple[str, str]]:
    """(code, location) of every ERROR."""
    return [(d.code, d.location) for d in validate_definition(definition) if d.severity == "ERROR"]


def messages(definition: Any) -> dict[str, str]:
    """location -> message of every diagnostic (the last one at each location)."""
    return {d.location: d.message for d in validate_definition(definition)}


def only_error(definition: Any) -> Diagnostic:
    found = [d for d in validate_definition(definition) if d.severity == "ERROR"]
    assert len(found) == 1, found
    return found[0]


SCHEMA = "SCHEMA_VALIDATION_FAILED"
TARGET = "MISSING_TRANSITION_TARGET"


# ----------------------------------------------------------------------------- loading


def test_load_json_and_yaml_give_the_same_object() -> None:
    text = '{"StartAt": "S", "States": {"S": {"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "End": true}}}'
    yaml_text = (
        "StartAt: S\nStates:\n  S:\n    Type: Wait\n    Timestamp: 2016-03-14T01:59:00Z\n"
        "    End: true\n"
    )
    assert load_definition(text) == load_definition(yaml_text) == json.loads(text)
    # The YAML timestamp stays the string the ASL field needs.
    assert isinstance(load_definition(yaml_text)["States"]["S"]["Timestamp"], str)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"StartAt": "S",\n  "States": }', "line 2 column 13"),
        ("not a definition", "line 1 column 1"),
        ("a: [1\n", "line 2 column 1"),
    ],
)
def test_parse_errors_say_line_and_column(text: str, where: str) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(text)
    [diag] = info.value.diagnostics
    assert diag.code == "INVALID_JSON_DESCRIPTION"
    assert diag.location == ""
    assert where in diag.message


@pytest.mark.parametrize("text", ["", "   ", "[1, 2]", '"text"', "42"])
def test_a_definition_must_be_an_object(text: str) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(text)
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        (SCHEMA, "Definition must be a valid JSON object")
    ]
    assert validate_definition([1]) == info.value.diagnostics


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}'])
def test_non_standard_json_numbers_are_refused(text: str) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(text)
    assert info.value.diagnostics[0].code == "INVALID_JSON_DESCRIPTION"


def test_yaml_non_json_values_are_refused() -> None:
    for text in ("1: a\n", "a: !!binary aGVsbG8=\n", "a: .nan\n"):
        with pytest.raises(DefinitionError) as info:
            load_definition(text)
        assert info.value.diagnostics[0].code == "INVALID_JSON_DESCRIPTION", text


def test_repeated_state_names_in_the_text_are_duplicates() -> None:
    text = (
        '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "A": {"Type": "Succeed"}}}'
    )
    assert ("DUPLICATE_STATE_NAME", "/States/A") in errors(load_definition(text))


# ----------------------------------------------------------------------------- top level


def test_missing_top_level_fields() -> None:
    assert only_error({}).message == "These fields are required: [States, StartAt]"
    assert only_error({}).location == "/"
    assert only_error({"States": {"S": {"Type": "Succeed"}}}).message == (
        "These fields are required: [StartAt]"
    )


def test_top_level_field_rules() -> None:
    base = one({"Type": "Succeed"})
    assert errors({**base, "Extra": 1}) == [(SCHEMA, "/")]
    assert messages({**base, "Extra": 1})["/"] == "Field 'Extra' is not supported"
    assert errors({**base, "TimeoutSeconds": 0}) == [(SCHEMA, "/TimeoutSeconds")]
    assert errors({**base, "TimeoutSeconds": 1.5}) == [(SCHEMA, "/TimeoutSeconds")]
    assert errors({**base, "TimeoutSeconds": 60, "Version": "1.0", "Comment": "c"}) == []
    assert errors({**base, "Version": "2.0"}) == [(SCHEMA, "/Version")]
    assert errors({**base, "Comment": 5}) == [(SCHEMA, "/Comment")]
    assert errors({**base, "QueryLanguage": "XPath"}) == [(SCHEMA, "/QueryLanguage")]
    assert messages({**base, "QueryLanguage": "XPath"})["/QueryLanguage"] == (
        "Value should be one of the following: [JSONPath, JSONata]"
    )
    assert errors({"StartAt": "S", "States": {}}) == [(SCHEMA, "/States")]


def test_start_at_must_name_a_state() -> None:
    definition = {"StartAt": "Nope", "States": {"A": {"Type": "Pass", "End": True}}}
    assert errors(definition) == [(TARGET, "/StartAt"), (TARGET, "/States/A")]
    assert messages(definition)["/StartAt"] == "Missing 'Next' target: Nope"
    assert messages(definition)["/States/A"] == 'State "A" is not reachable.'


# ----------------------------------------------------------------------------- states


def test_type_is_required_and_known() -> None:
    assert errors(one({"End": True})) == [(SCHEMA, "/States/S")]
    assert errors(one({"Type": "Sleep", "End": True})) == [(SCHEMA, "/States/S/Type")]
    assert errors(one(["not", "a", "state"])) == [(SCHEMA, "/States/S"), ("MISSING_END_STATE", "")]


def test_unknown_fields_are_reported_at_the_state() -> None:
    diag = only_error(one({"Type": "Pass", "End": True, "TimeoutSeconds": 5}))
    assert (diag.code, diag.location, diag.message) == (
        SCHEMA,
        "/States/S",
        "Field 'TimeoutSeconds' is not supported",
    )
    assert errors(one({"Type": "Succeed", "Next": "S"})) == [(SCHEMA, "/States/S")]
    assert errors(one({"Type": "Pass", "End": True, "Catch": []})) == [(SCHEMA, "/States/S")]
    assert errors(one({"Type": "Wait", "Seconds": 1, "End": True, "Retry": []})) == [
        (SCHEMA, "/States/S")
    ]


def test_next_and_end_rules() -> None:
    both = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "B", "End": True}, "B": {"Type": "Succeed"}},
    }
    assert errors(both) == [(SCHEMA, "/States/A/Next")]
    neither = {"StartAt": "A", "States": {"A": {"Type": "Pass"}, "B": {"Type": "Succeed"}}}
    assert (SCHEMA, "/States/A") in errors(neither)
    assert errors(one({"Type": "Pass", "End": False})) == [
        (SCHEMA, "/States/S/End"),
        ("MISSING_END_STATE", ""),
    ]
    dangling = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Ghost"}}}
    diags = validate_definition(dangling)
    assert [(d.code, d.location, d.message) for d in diags] == [
        (TARGET, "/States/A/Next", "Missing 'Next' target: Ghost"),
        ("MISSING_END_STATE", "", "Workflow has no terminal state"),
    ]


def test_unreachable_states_are_errors_at_any_depth() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "W",
                        "States": {
                            "W": {"Type": "Pass", "End": True},
                            "Ghost": {"Type": "Pass", "End": True},
                        },
                    }
                ],
                "End": True,
            },
            "Orphan": {"Type": "Succeed"},
        },
    }
    assert errors(definition) == [
        (TARGET, "/States/P/Branches[0]/States/Ghost"),
        (TARGET, "/States/Orphan"),
    ]


def test_a_loop_without_terminal_state_is_reported_once_at_top_level() -> None:
    loop = {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Next": "A"},
        "Unused": {"Type": "Pass", "Next": "A"},
    }
    assert errors({"StartAt": "A", "States": loop}) == [("MISSING_END_STATE", "")]
    nested = one(
        {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "A", "States": dict(list(loop.items())[:2])},
            "End": True,
        }
    )
    assert errors(nested) == []


def test_state_names() -> None:
    long_name = "x" * 81
    assert errors({"StartAt": long_name, "States": {long_name: {"Type": "Succeed"}}}) == [
        ("INVALID_STATE_NAME", f"/States/{long_name}")
    ]
    ok_name = "y" * 80
    assert errors({"StartAt": ok_name, "States": {ok_name: {"Type": "Succeed"}}}) == []
    nested_duplicate = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}},
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    assert errors(nested_duplicate) == [("DUPLICATE_STATE_NAME", "/States/Done")]


# ----------------------------------------------------------------------------- query languages


def test_jsonata_fields_in_a_jsonpath_state() -> None:
    diag = only_error(one({"Type": "Task", "Resource": LAMBDA, "Arguments": {"a": 1}, "End": True}))
    assert diag.location == "/States/S"
    assert diag.message == (
        "The QueryLanguage is set to 'JSONPath', but field 'Arguments' is only supported "
        "for the 'JSONata' QueryLanguage"
    )
    assert errors(one({"Type": "Pass", "Output": 1, "End": True})) == [(SCHEMA, "/States/S")]
    choice = one({"Type": "Choice", "Choices": [{"Condition": True, "Next": "S"}]})
    assert (SCHEMA, "/States/S/Choices[0]") in errors(choice)


def test_jsonpath_fields_in_a_jsonata_state() -> None:
    state = {"Type": "Pass", "InputPath": "$.a", "ResultPath": "$.b", "Parameters": {}, "End": True}
    assert errors(one(state, QueryLanguage="JSONata")) == [(SCHEMA, "/States/S")] * 3
    assert errors(one({**state, "QueryLanguage": "JSONata"})) == [(SCHEMA, "/States/S")] * 3
    wait = one({"Type": "Wait", "SecondsPath": "$.s", "End": True}, QueryLanguage="JSONata")
    assert (SCHEMA, "/States/S") in errors(wait)
    choice = one(
        {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": True, "Next": "S"}]},
        QueryLanguage="JSONata",
    )
    assert (SCHEMA, "/States/S/Choices[0]") in errors(choice)


def test_jsonata_machines_cannot_go_back_to_jsonpath() -> None:
    definition = one(
        {"Type": "Pass", "QueryLanguage": "JSONPath", "Output": {"v": "{% 1 %}"}, "End": True},
        QueryLanguage="JSONata",
    )
    diag = only_error(definition)
    assert (diag.location, diag.message) == (
        "/States/S",
        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
    )
    upgrade = one({"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}", "End": True})
    assert errors(upgrade) == []


def test_nested_states_inherit_the_top_level_language_not_the_parent_state() -> None:
    inner = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% 2 %}", "End": True}}}
    jsonpath_machine = one(
        {"Type": "Map", "QueryLanguage": "JSONata", "ItemProcessor": inner, "End": True}
    )
    assert errors(jsonpath_machine) == [(SCHEMA, "/States/S/ItemProcessor/States/P")]
    jsonata_machine = one(
        {"Type": "Map", "ItemProcessor": inner, "End": True}, QueryLanguage="JSONata"
    )
    assert errors(jsonata_machine) == []
    with_ql = one(
        {"Type": "Map", "ItemProcessor": {**inner, "QueryLanguage": "JSONata"}, "End": True}
    )
    assert messages(with_ql)["/States/S/ItemProcessor"] == "Field 'QueryLanguage' is not supported"


def test_jsonata_expressions_must_compile() -> None:
    definition = one(
        {"Type": "Pass", "Output": {"a": ["{% 1 + %}"]}, "Assign": {"x": "{% $y %}"}, "End": True},
        QueryLanguage="JSONata",
    )
    diag = only_error(definition)
    assert (diag.code, diag.location) == ("INVALID_JSONATA_EXPRESSION", "/States/S/Output/a[0]")
    assert diag.message == "Unexpected end of expression"


def test_jsonata_typed_fields_take_literals_or_expressions() -> None:
    top = {"QueryLanguage": "JSONata"}
    assert errors(one({"Type": "Wait", "Seconds": "{% $x %}", "End": True}, **top)) == []
    assert errors(one({"Type": "Wait", "Seconds": "ten", "End": True}, **top)) == [
        (SCHEMA, "/States/S/Seconds")
    ]
    task = {
        "Type": "Task",
        "Resource": LAMBDA,
        "Arguments": "{% $states.input %}",
        "TimeoutSeconds": "{% $t %}",
        "End": True,
    }
    assert errors(one(task, **top)) == []
    assert errors(one({**task, "Arguments": [1]}, **top)) == [(SCHEMA, "/States/S/Arguments")]


# ----------------------------------------------------------------------------- paths and templates


def test_path_fields() -> None:
    pass_state = {"Type": "Pass", "End": True}
    assert errors(one({**pass_state, "InputPath": "a.b"})) == [(SCHEMA, "/States/S/InputPath")]
    assert (
        errors(one({**pass_state, "InputPath": None, "OutputPath": None, "ResultPath": None})) == []
    )
    assert errors(one({**pass_state, "ResultPath": "$.a[*]"})) == [(SCHEMA, "/States/S/ResultPath")]
    assert errors(one({**pass_state, "ResultPath": "$$.Execution"})) == [
        (SCHEMA, "/States/S/ResultPath")
    ]
    assert errors(one({**pass_state, "InputPath": "$.items[?(@.a > 1)]"})) == []
    wait = {"Type": "Wait", "SecondsPath": "$..seconds", "End": True}
    assert errors(one(wait)) == [(SCHEMA, "/States/S/SecondsPath")]


def test_payload_templates() -> None:
    params = {
        "ok.$": "$.a",
        "ctx.$": "$$.Execution.Id",
        "fn.$": "States.Format('{}', $.a)",
        "nested": {"bad.$": "no-dollar", "list": [{"worse.$": 3}]},
        "unknown.$": "States.Nope(1)",
    }
    assert errors(one({"Type": "Pass", "Parameters": params, "End": True})) == [
        (SCHEMA, "/States/S/Parameters/nested/bad.$"),
        (SCHEMA, "/States/S/Parameters/nested/list[0]/worse.$"),
        (SCHEMA, "/States/S/Parameters/unknown.$"),
    ]
    assert errors(one({"Type": "Pass", "Parameters": [1], "End": True})) == [
        (SCHEMA, "/States/S/Parameters")
    ]


def test_warnings_do_not_fail_validation() -> None:
    definition = one(
        {
            "Type": "Pass",
            "Parameters": {"p": "$.looks.like.a.path"},
            "Result": {"r.$": "$.x"},
            "End": True,
        }
    )
    diags = validate_definition(definition)
    assert [(d.severity, d.code, d.location) for d in diags] == [
        ("WARNING", "NO_DOLLAR", "/States/S/Parameters/p"),
        ("WARNING", "PASS_RESULT_IS_STATIC", "/States/S/Result"),
    ]
    assert validation_result(diags) == "OK"
    assert check_definition(json.dumps(definition)) == definition


# ----------------------------------------------------------------------------- Choice


def choice(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": list(rules), **extra},
            "Z": {"Type": "Succeed"},
        },
    }


def test_choice_rules_need_exactly_one_operator() -> None:
    assert errors(choice({"Variable": "$.a", "Next": "Z"})) == [(SCHEMA, "/States/C/Choices[0]")]
    two = {"Variable": "$.a", "IsNull": True, "IsString": True, "Next": "Z"}
    assert errors(choice(two)) == [(SCHEMA, "/States/C/Choices[0]")]
    assert errors(choice({"IsNull": True, "Next": "Z"})) == [(SCHEMA, "/States/C/Choices[0]")]
    assert errors(choice()) == [(SCHEMA, "/States/C/Choices"), (TARGET, "/States/Z")]
    assert errors({"StartAt": "C", "States": {"C": {"Type": "Choice"}}}) == [
        (SCHEMA, "/States/C"),
        ("MISSING_END_STATE", ""),
    ]


@pytest.mark.parametrize(
    ("operator", "good", "bad"),
    [
        ("StringEquals", "x", 1),
        ("StringMatches", "log-*.txt", None),
        ("NumericEquals", 1.5, "1"),
        ("NumericLessThan", 3, True),
        ("BooleanEquals", False, "false"),
        ("TimestampEquals", "2016-03-14T01:59:00Z", "yesterday"),
        ("IsPresent", True, "yes"),
        ("NumericEqualsPath", "$.other", "other"),
        ("StringEqualsPath", "$$.Execution.Name", 5),
    ],
)
def test_choice_operator_value_types(operator: str, good: Any, bad: Any) -> None:
    assert errors(choice({"Variable": "$.a", operator: good, "Next": "Z"})) == []
    assert errors(choice({"Variable": "$.a", operator: bad, "Next": "Z"})) == [
        (SCHEMA, f"/States/C/Choices[0]/{operator}")
    ]


def test_boolean_rules_nest_without_next() -> None:
    rule = {
        "And": [
            {"Variable": "$.a", "IsPresent": True},
            {"Not": {"Variable": "$.b", "IsNull": True, "Next": "Z"}},
            {"Or": []},
        ],
        "Next": "Z",
    }
    assert errors(choice(rule)) == [
        (SCHEMA, "/States/C/Choices[0]/And[1]/Not"),
        (SCHEMA, "/States/C/Choices[0]/And[2]/Or"),
    ]
    assert messages(choice(rule))["/States/C/Choices[0]/And[1]/Not"] == (
        "Field 'Next' is not supported"
    )


def test_choice_targets() -> None:
    assert errors(choice({"Variable": "$.a", "IsNull": True, "Next": "Ghost"}, Default="Z")) == [
        (TARGET, "/States/C/Choices[0]/Next")
    ]
    assert errors(choice({"Variable": "$.a", "IsNull": True, "Next": "Z"}, Default="Ghost")) == [
        (TARGET, "/States/C/Default")
    ]


def test_jsonata_choice_rules() -> None:
    top = {"QueryLanguage": "JSONata"}
    good = choice(
        {
            "Condition": "{% $states.input.a > 1 %}",
            "Next": "Z",
            "Output": "{% 1 %}",
            "Assign": {"v": 1},
        },
        **top,
    )
    assert errors(good) == []
    assert errors(choice({"Next": "Z"}, **top)) == [(SCHEMA, "/States/C/Choices[0]")]
    assert errors(choice({"Condition": "a > 1", "Next": "Z"}, **top)) == [
        (SCHEMA, "/States/C/Choices[0]/Condition")
    ]


# ----------------------------------------------------------------------------- Wait, Fail, Task


def test_wait_needs_exactly_one_duration() -> None:
    assert errors(one({"Type": "Wait", "End": True})) == [(SCHEMA, "/States/S")]
    assert errors(one({"Type": "Wait", "Seconds": 1, "TimestampPath": "$.t", "End": True})) == [
        (SCHEMA, "/States/S/Seconds")
    ]
    assert errors(one({"Type": "Wait", "Seconds": -1, "End": True})) == [
        (SCHEMA, "/States/S/Seconds")
    ]
    assert errors(one({"Type": "Wait", "Timestamp": "2016-03-14 01:59", "End": True})) == [
        (SCHEMA, "/States/S/Timestamp")
    ]


@pytest.mark.parametrize(
    "stamp", ["2016-13-14T01:59:00Z", "2016-02-30T01:59:00Z", "2016-03-14T24:00:00Z",
              "2016-03-14T01:60:00Z", "2016-03-14T01:59:00+25:00"],
)  # fmt: skip
def test_timestamps_name_real_moments(stamp: str) -> None:
    assert errors(one({"Type": "Wait", "Timestamp": stamp, "End": True})) == [
        (SCHEMA, "/States/S/Timestamp")
    ]
    rule = {"Variable": "$.t", "TimestampEquals": stamp, "Next": "S"}
    states = {"C": {"Type": "Choice", "Choices": [rule]}, "S": {"Type": "Succeed"}}
    choice = {"StartAt": "C", "States": states}
    assert errors(choice) == [(SCHEMA, "/States/C/Choices[0]/TimestampEquals")]
    fine = stamp[:5] + "03-14T01:59:00.5+05:30"
    assert errors(one({"Type": "Wait", "Timestamp": fine, "End": True})) == []


def test_fail_error_and_cause() -> None:
    assert errors(one({"Type": "Fail", "Error": "E", "Cause": "C"})) == []
    assert (
        errors(one({"Type": "Fail", "ErrorPath": "States.Format('{}', $.e)", "CausePath": "$.c"}))
        == []
    )
    assert errors(one({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})) == [
        (SCHEMA, "/States/S/Error")
    ]
    assert errors(one({"Type": "Fail", "CausePath": "cause"})) == [(SCHEMA, "/States/S/CausePath")]
    assert errors(one({"Type": "Fail", "ErrorPath": "$.e"}, QueryLanguage="JSONata")) == [
        (SCHEMA, "/States/S")
    ]


def test_task_rules() -> None:
    assert errors(one({"Type": "Task", "End": True})) == [(SCHEMA, "/States/S")]
    assert errors(one({"Type": "Task", "Resource": "lambda", "End": True})) == [
        ("INVALID_RESOURCE", "/States/S/Resource")
    ]
    task = {"Type": "Task", "Resource": ACTIVITY_ARN, "End": True}
    assert errors(one({**task, "TimeoutSeconds": 10, "HeartbeatSeconds": 10})) == [
        (SCHEMA, "/States/S/HeartbeatSeconds")
    ]
    assert errors(one({**task, "TimeoutSeconds": 0})) == [(SCHEMA, "/States/S/TimeoutSeconds")]
    assert errors(one({**task, "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"})) == [
        (SCHEMA, "/States/S/TimeoutSeconds")
    ]
    assert errors(one({**task, "HeartbeatSecondsPath": "$.h[*]"})) == [
        (SCHEMA, "/States/S/HeartbeatSecondsPath")
    ]
    assert errors(one({**task, "Credentials": {"RoleArn.$": "$.role"}})) == []
    assert errors(one({**task, "Credentials": {"Role": "x"}})) == [
        (SCHEMA, "/States/S/Credentials"),
        (SCHEMA, "/States/S/Credentials"),
    ]


# ----------------------------------------------------------------------------- Retry and Catch


def test_retry_rules() -> None:
    retry = [
        {"ErrorEquals": ["States.ALL", "X"], "IntervalSeconds": 0},
        {"ErrorEquals": [], "MaxAttempts": -1, "BackoffRate": 0.5},
        {"ErrorEquals": ["E"], "MaxDelaySeconds": 0, "JitterStrategy": "HALF", "Other": 1},
    ]
    task = one({"Type": "Task", "Resource": LAMBDA, "Retry": retry, "End": True})
    assert errors(task) == [
        (SCHEMA, "/States/S/Retry[0]/ErrorEquals"),
        (SCHEMA, "/States/S/Retry[0]/ErrorEquals"),
        (SCHEMA, "/States/S/Retry[0]/IntervalSeconds"),
        (SCHEMA, "/States/S/Retry[1]/ErrorEquals"),
        (SCHEMA, "/States/S/Retry[1]/MaxAttempts"),
        (SCHEMA, "/States/S/Retry[1]/BackoffRate"),
        (SCHEMA, "/States/S/Retry[2]"),
        (SCHEMA, "/States/S/Retry[2]/MaxDelaySeconds"),
        (SCHEMA, "/States/S/Retry[2]/JitterStrategy"),
    ]
    fine = [
        {
            "ErrorEquals": ["E"],
            "IntervalSeconds": 1,
            "MaxAttempts": 0,
            "BackoffRate": 1.0,
            "MaxDelaySeconds": 5,
            "JitterStrategy": "FULL",
        },
        {"ErrorEquals": ["States.ALL"]},
    ]
    assert errors(one({"Type": "Task", "Resource": LAMBDA, "Retry": fine, "End": True})) == []


def test_catch_rules() -> None:
    catch = [
        {"ErrorEquals": ["States.ALL"], "Next": "H"},
        {"ErrorEquals": ["E"], "Next": "Ghost", "ResultPath": "$.a[0:2]"},
        {"ErrorEquals": ["E"]},
    ]
    definition: dict[str, Any] = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "Catch": catch, "End": True},
            "H": {"Type": "Succeed"},
        },
    }
    assert errors(definition) == [
        (SCHEMA, "/States/T/Catch[0]/ErrorEquals"),
        (SCHEMA, "/States/T/Catch[1]/ResultPath"),
        (SCHEMA, "/States/T/Catch[2]"),
        (TARGET, "/States/T/Catch[1]/Next"),
    ]
    jsonata = {**definition, "QueryLanguage": "JSONata"}
    jsonata["States"] = {
        **definition["States"],
        "T": {
            "Type": "Task",
            "Resource": LAMBDA,
            "End": True,
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "Next": "H",
                    "Output": "{% $states.errorOutput %}",
                    "ResultPath": "$.e",
                }
            ],
        },
    }
    assert errors(jsonata) == [(SCHEMA, "/States/T/Catch[0]")]


# ----------------------------------------------------------------------------- Parallel and Map


def test_parallel_branches_are_state_machines() -> None:
    assert errors(one({"Type": "Parallel", "Branches": [], "End": True})) == [
        (SCHEMA, "/States/S/Branches")
    ]
    branch = {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "Ghost"}}}
    assert errors(one({"Type": "Parallel", "Branches": [branch, {"States": 1}], "End": True})) == [
        (TARGET, "/States/S/Branches[0]/States/B/Next"),
        (SCHEMA, "/States/S/Branches[1]"),
        (SCHEMA, "/States/S/Branches[1]/States"),
    ]


PROCESSOR: dict[str, Any] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
DISTRIBUTED: dict[str, Any] = {
    **PROCESSOR,
    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
}


def map_state(**fields: Any) -> dict[str, Any]:
    return one({"Type": "Map", "ItemProcessor": DISTRIBUTED, "End": True, **fields})


def test_map_processor() -> None:
    assert errors(one({"Type": "Map", "End": True})) == [(SCHEMA, "/States/S")]
    assert errors(one({"Type": "Map", "Iterator": PROCESSOR, "End": True})) == []
    both = one({"Type": "Map", "Iterator": PROCESSOR, "ItemProcessor": PROCESSOR, "End": True})
    assert (SCHEMA, "/States/S/ItemProcessor") in errors(both)
    no_type = {**PROCESSOR, "ProcessorConfig": {"Mode": "DISTRIBUTED"}}
    assert errors(one({"Type": "Map", "ItemProcessor": no_type, "End": True})) == [
        (SCHEMA, "/States/S/ItemProcessor/ProcessorConfig")
    ]
    bad_mode = {**PROCESSOR, "ProcessorConfig": {"Mode": "REMOTE"}}
    assert errors(one({"Type": "Map", "ItemProcessor": bad_mode, "End": True})) == [
        (SCHEMA, "/States/S/ItemProcessor/ProcessorConfig/Mode")
    ]


def test_map_items_and_limits() -> None:
    assert (
        errors(
            map_state(
                ItemsPath="$.items",
                ItemSelector={"v.$": "$$.Map.Item.Value"},
                MaxConcurrency=10_000_000_000,
                ToleratedFailurePercentage=12.5,
            )
        )
        == []
    )
    assert errors(map_state(ItemsPath="$.items[*]")) == [(SCHEMA, "/States/S/ItemsPath")]
    assert errors(map_state(MaxConcurrency=-1)) == [(SCHEMA, "/States/S/MaxConcurrency")]
    assert errors(map_state(MaxConcurrency=2, MaxConcurrencyPath="$.c")) == [
        (SCHEMA, "/States/S/MaxConcurrency")
    ]
    assert errors(map_state(ToleratedFailurePercentage=150)) == [
        (SCHEMA, "/States/S/ToleratedFailurePercentage")
    ]
    assert errors(map_state(ToleratedFailureCount=1.5)) == [
        (SCHEMA, "/States/S/ToleratedFailureCount")
    ]
    assert errors(map_state(ItemSelector={}, Parameters={})) == [(SCHEMA, "/States/S/ItemSelector")]
    jsonata = {"QueryLanguage": "JSONata"}
    assert errors({**map_state(Items="{% [1, 2] %}", MaxConcurrency="{% 3 %}"), **jsonata}) == []
    assert errors({**map_state(Items={"a": 1}), **jsonata}) == [(SCHEMA, "/States/S/Items")]
    assert errors({**map_state(MaxConcurrencyPath="$.c"), **jsonata}) == [(SCHEMA, "/States/S")]


def test_item_reader() -> None:
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "MANIFEST", "MaxItems": 10},
        "Parameters": {"Bucket.$": "$.bucket", "Key": "manifest.json"},
    }
    assert errors(map_state(ItemReader=reader)) == []
    csv = {
        **reader,
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVDelimiter": "COMMA"},
    }
    assert errors(map_state(ItemReader=csv)) == [(SCHEMA, "/States/S/ItemReader/ReaderConfig")]
    bad = {
        "Resource": "arn:aws:states:::s3:deleteObject",
        "ReaderConfig": {"InputType": "XML", "MaxItems": -1, "Extra": 1},
    }
    assert errors(map_state(ItemReader=bad)) == [
        (SCHEMA, "/States/S/ItemReader/Resource"),
        (SCHEMA, "/States/S/ItemReader/ReaderConfig"),
        (SCHEMA, "/States/S/ItemReader/ReaderConfig/InputType"),
        (SCHEMA, "/States/S/ItemReader/ReaderConfig/MaxItems"),
    ]
    assert errors(map_state(ItemReader=reader, ItemsPath="$.x")) == [
        (SCHEMA, "/States/S/ItemsPath")
    ]
    jsonata_reader = {
        "Resource": reader["Resource"],
        "Parameters": {"Bucket": "b"},
        "Arguments": {"Bucket": "b"},
    }
    assert errors({**map_state(ItemReader=jsonata_reader), "QueryLanguage": "JSONata"}) == [
        (SCHEMA, "/States/S/ItemReader/Parameters")
    ]


def test_item_batcher() -> None:
    assert (
        errors(map_state(ItemBatcher={"MaxItemsPerBatch": 400, "BatchInput": {"r.$": "$.run"}}))
        == []
    )
    assert errors(map_state(ItemBatcher={"BatchInput": {}})) == [(SCHEMA, "/States/S/ItemBatcher")]
    assert errors(map_state(ItemBatcher={"MaxInputBytesPerBatch": 262_145})) == [
        (SCHEMA, "/States/S/ItemBatcher/MaxInputBytesPerBatch")
    ]
    assert errors(map_state(ItemBatcher={"MaxItemsPerBatch": 0})) == [
        (SCHEMA, "/States/S/ItemBatcher/MaxItemsPerBatch")
    ]
    assert errors(map_state(ItemBatcher={"MaxItemsPerBatchPath": "$.n"})) == []


def test_result_writer() -> None:
    writer = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "b", "Prefix": "out"},
        "WriterConfig": {"OutputType": "JSONL", "Transformation": "FLATTEN"},
    }
    assert errors(map_state(ResultWriter=writer)) == []
    assert errors(map_state(ResultWriter={})) == [(SCHEMA, "/States/S/ResultWriter")]
    assert errors(map_state(ResultWriter={"Resource": writer["Resource"]})) == [
        (SCHEMA, "/States/S/ResultWriter")
    ]
    assert errors(map_state(ResultWriter={"WriterConfig": {"Transformation": "COMPACT"}})) == [
        (SCHEMA, "/States/S/ResultWriter/WriterConfig")
    ]
    assert errors(map_state(ResultWriter={**writer, "Resource": "arn:aws:states:::s3:get"})) == [
        (SCHEMA, "/States/S/ResultWriter/Resource")
    ]


def test_labels() -> None:
    assert errors(map_state(Label="batches")) == []
    assert errors(map_state(Label="has space")) == [("INVALID_LABEL_NAME", "/States/S/Label")]
    assert errors(map_state(Label="x" * 41)) == [("INVALID_LABEL_NAME", "/States/S/Label")]
    inner = {"Type": "Map", "ItemProcessor": DISTRIBUTED, "Label": "L", "End": True}
    nested = {**DISTRIBUTED, "StartAt": "I", "States": {"I": inner}}
    assert errors(map_state(Label="L", ItemProcessor=nested)) == [
        ("DUPLICATE_LABEL_NAME", "/States/S/ItemProcessor/States/I/Label")
    ]


# ----------------------------------------------------------------------------- Assign


def test_assign_rules() -> None:
    assign = {
        "ok": 1,
        "_also": "$.x",
        "path.$": "$.a",
        "fn.$": "States.UUID()",
        "states": 1,
        "1st": 2,
        "bad.$": "x",
    }
    assert errors(one({"Type": "Pass", "Assign": assign, "End": True})) == [
        (SCHEMA, "/States/S/Assign/states"),
        (SCHEMA, "/States/S/Assign/1st"),
        (SCHEMA, "/States/S/Assign/bad.$"),
    ]
    assert errors(one({"Type": "Pass", "Assign": {"v" * 81: 1}, "End": True})) == [
        (SCHEMA, "/States/S/Assign/" + "v" * 81)
    ]
    assert errors(one({"Type": "Succeed", "Assign": {"a": 1}})) == [(SCHEMA, "/States/S")]
    assert errors(one({"Type": "Pass", "Assign": [1], "End": True})) == [
        (SCHEMA, "/States/S/Assign")
    ]
    jsonata = one(
        {"Type": "Pass", "Assign": {"a.$": "{% 1 %}"}, "End": True}, QueryLanguage="JSONata"
    )
    assert errors(jsonata) == [(SCHEMA, "/States/S/Assign/a.$")]


# ----------------------------------------------------------------------------- API helpers


def test_check_definition_raises_every_error() -> None:
    text = json.dumps(
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B", "Bogus": 1},
                "B": {"Type": "Wait", "End": True},
            },
        }
    )
    with pytest.raises(DefinitionError) as info:
        check_definition(text)
    assert [(d.code, d.location) for d in info.value.diagnostics] == [
        (SCHEMA, "/States/A"),
        (SCHEMA, "/States/B"),
    ]


def test_format_invalid_definition_uses_aws_wording() -> None:
    diags = [
        Diagnostic(SCHEMA, "Field 'TimeoutSeconds' is not supported", "/States/P"),
        Diagnostic("MISSING_END_STATE", "Workflow has no terminal state", ""),
        Diagnostic("NO_DOLLAR", "ignored", "/States/P/Parameters/x", "WARNING"),
    ]
    assert format_invalid_definition(diags) == (
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Field 'TimeoutSeconds' "
        "is not supported at /States/P, MISSING_END_STATE: Workflow has no terminal state at null'"
    )


def test_deep_nesting_is_refused_not_crashing() -> None:
    machine: dict[str, Any] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    for _ in range(40):
        machine = {
            "StartAt": "M",
            "States": {"M": {"Type": "Parallel", "Branches": [machine], "End": True}},
        }
    assert "TOO_DEEPLY_NESTED" in [code for code, _ in errors(machine)]


# ----------------------------------------------------------------------------- AWS corpus


def _corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


@pytest.mark.conformance
def test_every_definition_that_ran_on_aws_validates() -> None:
    failures = []
    for case in _corpus():
        text = case["definition"].replace("__ACTIVITY_ARN__", ACTIVITY_ARN)
        found = [d for d in validate_definition(load_definition(text)) if d.severity == "ERROR"]
        if found:
            failures.append((case["id"], [str(d) for d in found]))
    assert failures == []


def test_deeply_nested_values_do_not_crash_the_validator() -> None:
    rule: dict[str, Any] = {"Variable": "$.a", "IsNull": True}
    for _ in range(sys.getrecursionlimit()):
        rule = {"Not": rule}
    definition = choice({**rule, "Next": "Z"})
    assert ("TOO_DEEPLY_NESTED", "") in errors(definition)
