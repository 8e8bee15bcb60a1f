"""Tags and reserved concurrency: the function's own settings, as on Lambda."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.lambda_api.helpers import create, eventually

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
SLOW = {
    "index.py": """
    import pathlib, time
    def handler(event, context):
        if "started" in event:
            pathlib.Path(event["started"]).touch()
        time.sleep(event.get("sleep", 0))
        return "done"
    """,
}


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_tags_are_kept_listed_changed_and_shown_by_get_function(lambda_client: Any) -> None:
    create(lambda_client, "t-tagged", SLOW, Tags={"team": "risk", "env": "dev"})
    arn = ARN + "t-tagged"
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "risk", "env": "dev"}
    lambda_client.tag_resource(Resource=arn, Tags={"env": "prod", "cost": "42"})
    lambda_client.untag_resource(Resource=arn, TagKeys=["team"])
    wanted = {"env": "prod", "cost": "42"}
    assert lambda_client.list_tags(Resource=arn)["Tags"] == wanted
    assert lambda_client.get_function(FunctionName="t-tagged")["Tags"] == wanted
    # tags are the function's: a version does not snapshot them, nor may one be tagged
    version = lambda_client.publish_version(FunctionName="t-tagged")["Version"]
    with pytest.raises(ClientError) as excinfo:
        lambda_client.tag_resource(Resource=f"{arn}:{version}", Tags={"a": "b"})
    assert _code(excinfo) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as excinfo:
        lambda_client.list_tags(Resource=ARN + "t-no-such-function")
    assert _code(excinfo) == "ResourceNotFoundException"
    lambda_client.delete_function(FunctionName="t-tagged")
    create(lambda_client, "t-tagged", SLOW)  # a new function of the name has no tags
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lambda_client.get_function(FunctionName="t-tagged")


def test_reserved_concurrency_is_recorded_and_throttles(lambda_client: Any, tmp_path: Path) -> None:
    create(lambda_client, "t-reserved", SLOW, Timeout=30)
    name = "t-reserved"
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(
        FunctionName=name
    )
    put = lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert put["ReservedConcurrentExecutions"] == 0
    assert lambda_client.get_function(FunctionName=name)["Concurrency"] == {
        "ReservedConcurrentExecutions": 0
    }
    with pytest.raises(ClientError) as excinfo:  # 0 turns the function off
        lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert _code(excinfo) == "TooManyRequestsException"
    response: dict[str, Any] = dict(excinfo.value.response)
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"

    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    started = tmp_path / "started"
    event = json.dumps({"sleep": 5, "started": str(started)}).encode()
    first: dict[str, Any] = {}
    slow = threading.Thread(
        target=lambda: first.update(lambda_client.invoke(FunctionName=name, Payload=event))
    )
    slow.start()
    try:
        eventually(lambda: True if started.exists() else None, timeout=30)
        settings = lambda_client.get_account_settings()["AccountLimit"]
        assert settings["UnreservedConcurrentExecutions"] == 999
        with pytest.raises(ClientError) as excinfo:  # the one slot is taken
            lambda_client.invoke(FunctionName=name, Payload=b"{}")
        assert _code(excinfo) == "TooManyRequestsException"
    finally:
        slow.join()
    assert json.loads(first["Payload"].read()) == "done"
    lambda_client.delete_function_concurrency(FunctionName=name)
    assert "Concurrency" not in lambda_client.get_function(FunctionName=name)
    assert lambda_client.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200


def test_reserving_cannot_leave_the_account_under_100(lambda_client: Any) -> None:
    create(lambda_client, "t-greedy", SLOW)
    with pytest.raises(ClientError) as excinfo:
        lambda_client.put_function_concurrency(
            FunctionName="t-greedy", ReservedConcurrentExecutions=901
        )
    assert _code(excinfo) == "InvalidParameterValueException"
    assert "below its minimum value of [100]" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as excinfo:
        lambda_client.put_function_concurrency(
            FunctionName="t-none-such", ReservedConcurrentExecutions=1
        )
    assert _code(excinfo) == "ResourceNotFoundException"


def test_permissions_make_a_resource_policy(lambda_client: Any) -> None:
    create(lambda_client, "t-policy", SLOW)
    with pytest.raises(ClientError) as excinfo:
        lambda_client.get_policy(FunctionName="t-policy")
    assert _code(excinfo) == "ResourceNotFoundException"
    added = lambda_client.add_permission(
        FunctionName="t-policy",
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::my-bucket",
        SourceAccount="123456789012",
    )
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "s3-invoke",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": ARN + "t-policy",
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": "123456789012"},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"},
        },
    }
    with pytest.raises(ClientError) as excinfo:
        lambda_client.add_permission(
            FunctionName="t-policy",
            StatementId="s3-invoke",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
    assert _code(excinfo) == "ResourceConflictException"
    lambda_client.add_permission(
        FunctionName=ARN + "t-policy",
        StatementId="account",
        Action="lambda:*",
        Principal="210987654321",
    )
    policy = json.loads(lambda_client.get_policy(FunctionName="t-policy")["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["s3-invoke", "account"]
    assert policy["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    lambda_client.remove_permission(FunctionName="t-policy", StatementId="s3-invoke")
    with pytest.raises(ClientError) as excinfo:
        lambda_client.remove_permission(FunctionName="t-policy", StatementId="s3-invoke")
    assert _code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:  # a qualifier that does not exist
        lambda_client.add_permission(
            FunctionName="t-policy",
            StatementId="v",
            Action="lambda:InvokeFunction",
            Principal="*",
            Qualifier="7",
        )
    assert _code(excinfo) == "ResourceNotFoundException"
    policy = json.loads(lambda_client.get_policy(FunctionName="t-policy")["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["account"]
