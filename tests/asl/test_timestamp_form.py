"""Timestamps as Step Functions takes them: RFC 3339 with an uppercase ``T`` and ``Z``
(AWS's docs: "an uppercase T must separate the date and time portions, and an uppercase
Z must denote that a numeric time zone offset is not present"), ASCII digits, nothing
after. RFC 3339 itself allows ``t``/``z``: the messages say why such a value is refused.
Create time and run time agree: a trailing newline or non-ASCII digits used to pass
validation (``$`` and ``\\d``) and then fail at run time or never compare equal."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.asl.definition import validate_definition
from montemap.asl.validate_base import is_timestamp
from montemap.engine.choice import parse_timestamp

UPPERCASE = "an uppercase 'T' between the date and the time and an uppercase 'Z'"


def errors(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (d.location, d.message) for d in validate_definition(definition) if d.severity == "ERROR"
    ]


def wait(stamp: str) -> dict[str, Any]:
    return {"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": stamp, "End": True}}}


def choice(operator: str, operand: str) -> dict[str, Any]:
    rule = {"Variable": "$.when", operator: operand, "Next": "E"}
    return {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [rule], "Default": "E"},
            "E": {"Type": "Succeed"},
        },
    }


NOT_TIMESTAMPS = [
    "2016-03-14t01:59:00Z",
    "2016-03-14T01:59:00z",
    "2016-03-14t01:59:00z",
    "2016-03-14T01:59:00Z\n",
    "2016-03-14T01:59:00+05:00\n",
    "\u0662\u0660\u0661\u0666-03-14T01:59:00Z",  # Arabic-Indic digits
    "2016-03-14T01:59:00.\uff15Z",  # a fullwidth digit in the fraction
]


@pytest.mark.parametrize("stamp", NOT_TIMESTAMPS)
def test_create_and_run_time_refuse_the_same_values(stamp: str) -> None:
    assert not is_timestamp(stamp)
    assert parse_timestamp(stamp) is None
    [(location, message)] = errors(wait(stamp))
    assert location == "/States/W/Timestamp"
    assert UPPERCASE in message and "'2016-03-14T01:59:00Z'" in message


@pytest.mark.parametrize("stamp", ["2016-03-14T01:59:00Z", "2016-03-14T01:59:00.5+05:30"])
def test_uppercase_timestamps_pass(stamp: str) -> None:
    assert is_timestamp(stamp) and parse_timestamp(stamp) is not None
    assert errors(wait(stamp)) == []
    assert errors(choice("TimestampEquals", stamp)) == []


@pytest.mark.parametrize("operator", ["TimestampEquals", "TimestampLessThanEquals"])
def test_choice_timestamp_operand_message_names_the_uppercase_rule(operator: str) -> None:
    [(location, message)] = errors(choice(operator, "2016-03-14t01:59:00z"))
    assert location == f"/States/C/Choices[0]/{operator}"
    assert UPPERCASE in message
