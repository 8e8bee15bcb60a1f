"""The JSON 1.0 protocol: routing, malformed requests and error shapes, over raw HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from starlette.responses import Response

from montemap.api.actions import ACTIONS
from montemap.api.protocol import CONTENT_TYPE, MAX_BODY_BYTES
from montemap.errors import ApiError

from .helpers import PASS_DEFINITION, ROLE_ARN, ApiClient


def error_of(response: Any) -> tuple[str, str]:
    """(code, message) of an error response, checking its AWS shape."""
    assert response.headers["content-type"].startswith(CONTENT_TYPE)
    body = response.json()
    assert set(body) == {"__type", "message"}
    namespace, code = body["__type"].split("#")
    assert namespace in ("com.amazonaws.sfn", "com.amazon.coral.service")
    return code, body["message"]


def test_health(api: ApiClient) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_success_response_has_protocol_content_type(api: ApiClient) -> None:
    response = api.call("ListStateMachines", {})
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.headers["x-amzn-requestid"]
    assert response.json() == {"stateMachines": []}


def test_empty_body_is_an_empty_request(api: ApiClient) -> None:
    response = api.call("ListStateMachines", raw=b"")
    assert response.status_code == 200


def test_unknown_action(api: ApiClient) -> None:
    response = api.call("DoSomethingElse", {})
    assert response.status_code == 400
    assert error_of(response) == (
        "UnknownOperationException",
        "Unknown operation 'DoSomethingElse'",
    )


def test_modelled_but_unsupported_action(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # every action of the model is implemented now: take one away to see the answer
    monkeypatch.delitem(ACTIONS, "TestState")
    response = api.call("TestState", {"definition": "{}"})
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "UnknownOperationException"
    assert "not supported by montemap" in message


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Amz-Target": ""},
        {"X-Amz-Target": "DynamoDB_20120810.ListTables"},
        {"X-Amz-Target": "AWSStepFunctions."},
    ],
)
def test_bad_target(api: ApiClient, headers: dict[str, str]) -> None:
    response = api.call("ListStateMachines", {}, headers=headers)
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "UnknownOperationException"
    assert "AWSStepFunctions.<Action>" in message


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_wrong_content_type(api: ApiClient, content_type: str) -> None:
    response = api.call("ListStateMachines", {}, headers={"Content-Type": content_type})
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "UnknownOperationException"
    assert CONTENT_TYPE in message


def test_content_type_parameters_are_accepted(api: ApiClient) -> None:
    headers = {"Content-Type": f"{CONTENT_TYPE}; charset=utf-8"}
    assert api.call("ListStateMachines", {}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"maxResults": ', "not valid JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"[1, 2]", "must be a JSON object, not array"),
        (b'"text"', "must be a JSON object, not string"),
        (b'{"maxResults": NaN}', "NaN is not a JSON value"),
    ],
)
def test_malformed_body(api: ApiClient, raw: bytes, expected: str) -> None:
    response = api.call("ListStateMachines", raw=raw)
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "SerializationException"
    assert expected in message


@pytest.mark.parametrize(
    ("body", "member", "expected"),
    [
        ({"maxResults": "10"}, "maxResults", "an integer"),
        ({"maxResults": True}, "maxResults", "an integer"),
        ({"maxResults": 1.5}, "maxResults", "an integer"),
        ({"nextToken": 5}, "nextToken", "a string"),
    ],
)
def test_wrong_member_type(
    api: ApiClient, body: dict[str, Any], member: str, expected: str
) -> None:
    response = api.call("ListStateMachines", body)
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "SerializationException"
    assert f"'{member}'" in message
    assert expected in message


def test_wrong_nested_type(api: ApiClient) -> None:
    body = {
        "name": "m",
        "definition": PASS_DEFINITION,
        "roleArn": ROLE_ARN,
        "tags": [{"key": "k", "value": 1}],
    }
    code, message = error_of(api.call("CreateStateMachine", body))
    assert code == "SerializationException"
    assert "'tags.1.member.value'" in message


def test_missing_required_members(api: ApiClient) -> None:
    response = api.call("CreateStateMachine", {"name": "m"})
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "ValidationException"
    assert message == (
        "2 validation errors detected: "
        "Value at 'definition' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
    )


def test_null_member_counts_as_absent(api: ApiClient) -> None:
    code, message = error_of(api.call("DescribeStateMachine", {"stateMachineArn": None}))
    assert code == "ValidationException"
    assert "Value null at 'stateMachineArn'" in message


def test_unknown_members_are_ignored(api: ApiClient) -> None:
    assert api.call("ListStateMachines", {"someFutureMember": 1}).status_code == 200


def test_range_violation_worded_as_aws(api: ApiClient) -> None:
    code, message = error_of(api.call("ListStateMachines", {"maxResults": 1001}))
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy "
        "constraint: Member must have value less than or equal to 1000"
    )


def test_length_violation_in_list_member(api: ApiClient) -> None:
    body = {
        "name": "m",
        "definition": PASS_DEFINITION,
        "roleArn": ROLE_ARN,
        "tags": [{"key": "ok", "value": "v"}, {"key": "", "value": "v"}],
    }
    code, message = error_of(api.call("CreateStateMachine", body))
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value '' at 'tags.2.member.key' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1"
    )


def test_enum_violation(api: ApiClient) -> None:
    body = {"name": "m", "definition": PASS_DEFINITION, "roleArn": ROLE_ARN, "type": "FAST"}
    code, message = error_of(api.call("CreateStateMachine", body))
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value 'FAST' at 'type' failed to satisfy constraint: "
        "Member must satisfy enum value set: [STANDARD, EXPRESS]"
    )


def test_sensitive_values_are_not_echoed(api: ApiClient) -> None:
    body = {"name": "m", "definition": "", "roleArn": ROLE_ARN}
    code, message = error_of(api.call("CreateStateMachine", body))
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value at 'definition' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_body_over_one_mib(api: ApiClient) -> None:
    raw = b'{"nextToken": "' + b"a" * MAX_BODY_BYTES + b'"}'
    response = api.call("ListStateMachines", raw=raw)
    assert response.status_code == 400
    code, message = error_of(response)
    assert code == "ValidationException"
    assert str(MAX_BODY_BYTES) in message


def test_chunked_body_over_one_mib(api: ApiClient) -> None:
    def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    response = api.http.post(
        "/",
        content=chunks(),
        headers={
            "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
            "Content-Type": CONTENT_TYPE,
        },
    )
    assert response.status_code == 400
    assert error_of(response)[0] == "ValidationException"


def test_unexpected_exception_is_an_internal_failure(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ctx: Any, params: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setitem(ACTIONS, "ListStateMachines", broken)
    with caplog.at_level(logging.ERROR, logger="montemap.api"):
        response = api.call("ListStateMachines", {})
    assert response.status_code == 500
    code, message = error_of(response)
    assert code == "InternalFailure"
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-amzn-requestid"] in message
    assert "secret detail" in caplog.text


def test_botocore_parses_errors_into_modelled_codes(api: ApiClient) -> None:
    response = api.call("DescribeStateMachine", {"stateMachineArn": "not_a_valid_arn"})
    model = botocore.session.get_session().get_service_model("stepfunctions")
    operation = model.operation_model("DescribeStateMachine")
    assert operation.output_shape is not None
    parsed = create_parser("json").parse(
        {
            "status_code": response.status_code,
            "headers": dict(response.headers),
            "body": response.content,
        },
        operation.output_shape,
    )
    assert parsed["Error"]["Code"] == "InvalidArn"
    assert parsed["Error"]["Message"] == "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'"
    assert "InvalidArn" in {shape.name for shape in operation.error_shapes}


def test_authenticator_refuses_before_dispatch(app_factory: Callable[..., ApiClient]) -> None:
    seen: list[bytes] = []

    async def authenticator(request: Any, body: bytes) -> None:
        seen.append(body)
        if request.headers.get("authorization") != "let-me-in":
            raise ApiError("UnrecognizedClientException", "bad credentials", status=403)

    api = app_factory(authenticator=authenticator)
    refused = api.call("ListStateMachines", {"maxResults": 5})
    assert refused.status_code == 403
    assert error_of(refused) == ("UnrecognizedClientException", "bad credentials")
    accepted = api.call(
        "ListStateMachines", {"maxResults": 5}, headers={"Authorization": "let-me-in"}
    )
    assert accepted.status_code == 200
    assert seen == [b'{"maxResults": 5}', b'{"maxResults": 5}']


def test_console_path_is_free(api: ApiClient) -> None:
    assert api.http.get("/console").status_code == 404


def test_other_services_share_the_endpoint(app_factory: Callable[..., ApiClient]) -> None:
    calls: list[tuple[str, bytes]] = []

    async def ecs(request: Any, body: bytes) -> Response:
        calls.append((request.headers["x-amz-target"], body))
        return Response(b"{}", media_type="application/x-amz-json-1.1")

    async def authenticator(request: Any, body: bytes) -> None:
        if request.headers.get("authorization") != "ok":
            raise ApiError("UnrecognizedClientException", "no", status=403)

    prefix = "AmazonEC2ContainerServiceV20141113."
    api = app_factory(authenticator=authenticator, services={prefix: ecs})
    headers = {"X-Amz-Target": f"{prefix}ListClusters", "Authorization": "ok"}
    assert api.call("ListClusters", {"a": 1}, headers=headers).status_code == 200
    assert calls == [(f"{prefix}ListClusters", b'{"a": 1}')]
    refused = api.call("ListClusters", {}, headers={"X-Amz-Target": f"{prefix}ListClusters"})
    assert refused.status_code == 403
    assert len(calls) == 1
    sfn = api.call("ListStateMachines", {}, headers={"Authorization": "ok"})
    assert sfn.json() == {"stateMachines": []}
