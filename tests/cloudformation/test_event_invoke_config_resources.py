"""AWS::Lambda::EventInvokeConfig applies the function's asynchronous-invocation settings:
created, updated with a changed property, deleted with the stack, removed by the rollback
of a stack that fails; its properties are checked as AWS's resource schema has them."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished, outputs

ACCOUNT = "arn:aws:lambda:us-east-1:123456789012"

TEMPLATE = """
Parameters:
  Retries: {Type: Number, Default: 1}
  Fail: {Type: String, Default: "no"}
Conditions:
  Failing: !Equals [!Ref Fail, "yes"]
Resources:
  Async:
    Type: AWS::Lambda::EventInvokeConfig
    Properties:
      FunctionName: %(function)s
      Qualifier: $LATEST
      MaximumRetryAttempts: !Ref Retries
      MaximumEventAgeInSeconds: 120
      DestinationConfig:
        OnFailure: {Destination: "%(account)s:function:%(target)s"}
  Broken:
    Type: AWS::Lambda::Version
    Condition: Failing
    DependsOn: Async
    Properties: {FunctionName: no-such-function-here}
Outputs:
  AsyncRef: {Value: !Ref Async}
"""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _function(lam: Any, name: str) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::123456789012:role/async",
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )


def _missing(lam: Any, name: str) -> bool:
    try:
        lam.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def test_a_stack_creates_updates_and_deletes_the_configuration(
    cfn_server: MontemapServer,
) -> None:
    cfn, lam = client(cfn_server), client(cfn_server, "lambda")
    _function(lam, "eic-fn")
    _function(lam, "eic-dlq")
    body = TEMPLATE % {"function": "eic-fn", "account": ACCOUNT, "target": "eic-dlq"}
    cfn.create_stack(StackName="eic", TemplateBody=body)
    stack = finished(cfn, "eic")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "eic")
    assert outputs(stack)["AsyncRef"] == "eic-fn|$LATEST"
    config = lam.get_function_event_invoke_config(FunctionName="eic-fn", Qualifier="$LATEST")
    assert config["FunctionArn"] == f"{ACCOUNT}:function:eic-fn:$LATEST"
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (1, 120)
    assert config["DestinationConfig"]["OnFailure"] == {
        "Destination": f"{ACCOUNT}:function:eic-dlq"
    }

    cfn.update_stack(
        StackName="eic",
        TemplateBody=body,
        Parameters=[{"ParameterKey": "Retries", "ParameterValue": "0"}],
    )
    stack = finished(cfn, "eic")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "eic")
    config = lam.get_function_event_invoke_config(FunctionName="eic-fn", Qualifier="$LATEST")
    assert config["MaximumRetryAttempts"] == 0

    cfn.delete_stack(StackName="eic")
    deleted = finished(cfn, stack["StackId"])
    assert deleted["StackStatus"] == "DELETE_COMPLETE", events(cfn, stack["StackId"])
    assert _missing(lam, "eic-fn")


def test_the_rollback_of_a_failing_stack_removes_the_configuration(
    cfn_server: MontemapServer,
) -> None:
    cfn, lam = client(cfn_server), client(cfn_server, "lambda")
    _function(lam, "eic-rb")
    _function(lam, "eic-rb-dlq")
    body = TEMPLATE % {"function": "eic-rb", "account": ACCOUNT, "target": "eic-rb-dlq"}
    cfn.create_stack(
        StackName="eic-rb",
        TemplateBody=body,
        Parameters=[{"ParameterKey": "Fail", "ParameterValue": "yes"}],
    )
    stack = finished(cfn, "eic-rb")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", events(cfn, "eic-rb")
    assert ("Async", "CREATE_COMPLETE") in {(lid, s) for lid, s, _ in events(cfn, "eic-rb")}
    assert _missing(lam, "eic-rb")


BAD = """
Resources:
  Async:
    Type: AWS::Lambda::EventInvokeConfig
    Properties: %s
"""


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ("{FunctionName: eic-bad}", "required key [Qualifier] not found"),
        ("{FunctionName: eic-bad, Qualifier: $LATEST, MaximumRetryAttempts: 3}", "3 is not less"),
        (
            "{FunctionName: eic-bad, Qualifier: $LATEST, MaximumEventAgeInSeconds: 59}",
            "59 is not greater",
        ),
        (
            "{FunctionName: eic-bad, Qualifier: $LATEST, DestinationConfig: "
            "{OnFailure: {Type: Lambda, Destination: x}}}",
            "extraneous key [Type]",
        ),
        ("{FunctionName: eic-bad, Qualifier: nope}", "function"),
        ("{FunctionName: eic-none, Qualifier: $LATEST}", "eic-none"),
    ],
)
def test_properties_aws_refuses_fail_the_resource(
    cfn_server: MontemapServer, properties: str, reason: str
) -> None:
    cfn, lam = client(cfn_server), client(cfn_server, "lambda")
    if not any(f["FunctionName"] == "eic-bad" for f in lam.list_functions()["Functions"]):
        _function(lam, "eic-bad")
    name = f"eic-bad-{abs(hash(properties)) % 10**8}"
    cfn.create_stack(StackName=name, TemplateBody=BAD % properties)
    stack = finished(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", events(cfn, name)
    failed = [r for lid, s, r in events(cfn, name) if lid == "Async" and s == "CREATE_FAILED"]
    assert failed and reason in failed[0], events(cfn, name)
    assert _missing(lam, "eic-bad")


def test_a_configuration_the_stack_did_not_make_is_not_taken_over(
    cfn_server: MontemapServer,
) -> None:
    cfn, lam = client(cfn_server), client(cfn_server, "lambda")
    _function(lam, "eic-own")
    lam.put_function_event_invoke_config(FunctionName="eic-own", MaximumRetryAttempts=2)
    cfn.create_stack(
        StackName="eic-own",
        TemplateBody=BAD % "{FunctionName: eic-own, Qualifier: $LATEST, MaximumRetryAttempts: 0}",
    )
    stack = finished(cfn, "eic-own")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", events(cfn, "eic-own")
    assert any("already exists" in r for _, _, r in events(cfn, "eic-own"))
    config = lam.get_function_event_invoke_config(FunctionName="eic-own")
    assert config["MaximumRetryAttempts"] == 2
