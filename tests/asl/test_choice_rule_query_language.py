"""A Choice rule of the other query language gets one diagnostic per such field, at the
rule, in the words AWS uses for a state's field of the other language: a ``Condition``
in a JSONPath machine used to get three ("Field 'Condition' is not supported", "exactly
one comparison operator ... (found: none)", "These fields are required: [Variable]")."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.asl.definition import validate_definition


def errors(rule: dict[str, Any], language: str | None = None) -> list[tuple[str, str]]:
    definition: dict[str, Any] = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [rule], "Default": "E"},
            "E": {"Type": "Succeed"},
        },
    }
    if language is not None:
        definition["QueryLanguage"] = language
    return [
        (d.location, d.message) for d in validate_definition(definition) if d.severity == "ERROR"
    ]


def jsonata_only(field: str) -> str:
    return (
        f"The QueryLanguage is set to 'JSONPath', but field '{field}' is only supported "
        "for the 'JSONata' QueryLanguage"
    )


@pytest.mark.parametrize(
    "rule",
    [
        {"Condition": "{% $states.input.ok %}", "Next": "E"},
        {"Condition": True, "Next": "E"},
        {"Variable": "$.ok", "Condition": "{% true %}", "Next": "E"},
    ],
    ids=["expression", "boolean", "with-variable"],
)
def test_a_condition_in_a_jsonpath_rule_is_one_diagnostic(rule: dict[str, Any]) -> None:
    assert errors(rule) == [("/States/C/Choices[0]", jsonata_only("Condition"))]


def test_a_condition_in_a_nested_jsonpath_rule_is_reported_where_it_is() -> None:
    rule = {"Not": {"Condition": "{% true %}"}, "Next": "E"}
    assert errors(rule) == [("/States/C/Choices[0]/Not", jsonata_only("Condition"))]


def test_a_jsonata_rule_with_output_names_each_field() -> None:
    rule = {"Condition": "{% true %}", "Output": {"a": 1}, "Next": "E"}
    assert errors(rule) == [
        ("/States/C/Choices[0]", jsonata_only("Condition")),
        ("/States/C/Choices[0]", jsonata_only("Output")),
    ]


def test_a_condition_beside_a_comparison_still_checks_the_comparison() -> None:
    rule = {"Variable": "$.n", "NumericEquals": "one", "Condition": "{% true %}", "Next": "E"}
    found = errors(rule)
    assert found[0] == ("/States/C/Choices[0]", jsonata_only("Condition"))
    assert [loc for loc, _ in found[1:]] == ["/States/C/Choices[0]/NumericEquals"]


def test_a_jsonpath_rule_in_a_jsonata_machine_names_its_fields() -> None:
    rule = {"Variable": "$.a", "StringEquals": "x", "Next": "E"}
    assert errors(rule, "JSONata") == [
        (
            "/States/C/Choices[0]",
            f"The QueryLanguage is set to 'JSONata', but field '{field}' is only supported "
            "for the 'JSONPath' QueryLanguage",
        )
        for field in ("Variable", "StringEquals")
    ]


def test_rules_of_the_right_language_still_pass() -> None:
    assert errors({"Variable": "$.a", "StringEquals": "x", "Next": "E"}) == []
    assert errors({"Condition": "{% true %}", "Next": "E"}, "JSONata") == []
    assert errors({"Next": "E"}, "JSONata") == [
        ("/States/C/Choices[0]", "These fields are required: [Condition]")
    ]
