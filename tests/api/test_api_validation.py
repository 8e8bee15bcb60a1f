"""The model-driven request validator and the paging tokens, called directly."""

from __future__ import annotations

from typing import Any

import pytest

from montemap.api import paging
from montemap.api.validation import operation_model, validate_input
from montemap.errors import ApiError


def validate(action: str, params: dict[str, Any]) -> dict[str, Any]:
    operation = operation_model(action)
    assert operation is not None
    return validate_input(operation, params)


def refusal(action: str, params: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ApiError) as info:
        validate(action, params)
    return info.value.code, info.value.message


def test_unknown_operation_has_no_model() -> None:
    assert operation_model("NoSuchAction") is None


def test_valid_request_keeps_known_members_only() -> None:
    params = {"stateMachineArn": "arn", "input": "{}", "extra": 1, "name": None}
    assert validate("StartExecution", params) == {"stateMachineArn": "arn", "input": "{}"}


def test_integral_float_is_an_integer() -> None:
    assert validate("ListStateMachines", {"maxResults": 10.0}) == {"maxResults": 10}


def test_pattern_with_java_class() -> None:
    code, message = refusal("StartExecution", {"stateMachineArn": "arn", "traceHeader": "é"})
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value 'é' at 'traceHeader' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: \\p{ASCII}*"
    )
    assert validate("StartExecution", {"stateMachineArn": "arn", "traceHeader": "Root=1"})


def test_every_violation_is_reported() -> None:
    code, message = refusal("GetExecutionHistory", {"maxResults": -1, "nextToken": ""})
    assert code == "ValidationException"
    assert message.startswith("3 validation errors detected: ")
    assert "Value null at 'executionArn'" in message
    assert "Value '-1' at 'maxResults'" in message
    assert "Value '' at 'nextToken'" in message


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"loggingConfiguration": "OFF"}, "loggingConfiguration"),
        ({"tracingConfiguration": {"enabled": "yes"}}, "tracingConfiguration.enabled"),
        ({"tags": {"k": "v"}}, "tags"),
        ({"tags": ["k"]}, "tags.1.member"),
        ({"publish": 1}, "publish"),
    ],
)
def test_type_errors_name_the_member(params: dict[str, Any], path: str) -> None:
    body = {"name": "n", "definition": "{}", "roleArn": "r", **params}
    code, message = refusal("CreateStateMachine", body)
    assert code == "SerializationException"
    assert f"'{path}'" in message


def test_null_list_member() -> None:
    code, message = refusal("UntagResource", {"resourceArn": "a", "tagKeys": ["k", None]})
    assert code == "ValidationException"
    assert "Value null at 'tagKeys.2.member' failed to satisfy constraint" in message


def test_nested_required_member() -> None:
    body = {"name": "n", "definition": "{}", "roleArn": "r", "encryptionConfiguration": {}}
    code, message = refusal("CreateStateMachine", body)
    assert code == "ValidationException"
    assert "Value null at 'encryptionConfiguration.type'" in message


def test_token_round_trip() -> None:
    token = paging.encode("ListActivities", "name-3")
    assert paging.decode("ListActivities", token) == "name-3"


@pytest.mark.parametrize(
    "token",
    ["bogus", "!!!", paging.encode("ListStateMachines", "x"), "e30="],
)
def test_foreign_tokens_are_invalid(token: str) -> None:
    with pytest.raises(ApiError) as info:
        paging.decode("ListActivities", token)
    assert info.value.code == "InvalidToken"
    assert info.value.message == f"Invalid Token: '{token}'"


def test_paginate() -> None:
    items = [f"i{n}" for n in range(5)]

    def page(size: int | None, token: str | None) -> tuple[list[str], str | None]:
        return paging.paginate(
            items, lambda item: item, listing="L", max_results=size, next_token=token
        )

    assert page(None, None) == (items, None)
    assert page(0, None) == (items, None)
    first, token = page(2, None)
    assert first == ["i0", "i1"]
    second, token = page(2, token)
    assert second == ["i2", "i3"]
    third, token = page(2, token)
    assert (third, token) == (["i4"], None)
    exact, token = page(5, None)
    assert (exact, token) == (items, None)
