"""An update that replaces resources and then fails puts the old ones back and removes the new."""

from __future__ import annotations

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished

TEMPLATE = """
Parameters:
  Name: {Type: String}
Resources:
  Store:
    Type: AWS::S3::Bucket
    Properties: {BucketName: !Ref Name}
  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: !Sub "jobs-${Store}"}
"""
FAILING = """
  Mystery:
    Type: AWS::DynamoDB::Table
    DependsOn: Jobs
"""


def _given(name: str) -> list[dict[str, str]]:
    return [{"ParameterKey": "Name", "ParameterValue": name}]


def test_rollback_after_replacement_restores_the_old_resources(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    s3 = cfn_server.client("s3")
    sfn = cfn_server.client()
    cfn.create_stack(StackName="swap", TemplateBody=TEMPLATE, Parameters=_given("swap-old"))
    assert finished(cfn, "swap")["StackStatus"] == "CREATE_COMPLETE"
    s3.put_object(Bucket="swap-old", Key="kept.txt", Body=b"still here")
    cfn.update_stack(
        StackName="swap", TemplateBody=TEMPLATE + FAILING, Parameters=_given("swap-new")
    )
    stack = finished(cfn, "swap")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", events(cfn, "swap")

    resources = {
        r["LogicalResourceId"]: r
        for r in cfn.describe_stack_resources(StackName="swap")["StackResources"]
    }
    assert set(resources) == {"Store", "Jobs"}
    assert resources["Store"]["PhysicalResourceId"] == "swap-old"
    assert resources["Jobs"]["PhysicalResourceId"].endswith(":activity:jobs-swap-old")
    assert {r["ResourceStatus"] for r in resources.values()} == {"UPDATE_COMPLETE"}

    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert "swap-old" in buckets and "swap-new" not in buckets
    assert s3.get_object(Bucket="swap-old", Key="kept.txt")["Body"].read() == b"still here"
    activities = {a["name"] for a in sfn.list_activities()["activities"]}
    assert "jobs-swap-old" in activities and "jobs-swap-new" not in activities

    raw = cfn.describe_stack_events(StackName="swap")["StackEvents"]
    stores = {e["PhysicalResourceId"] for e in raw if e["LogicalResourceId"] == "Store"}
    assert stores - {""} == {"swap-old", "swap-new"}  # no third bucket was made
    deleted = [
        e["PhysicalResourceId"]
        for e in raw
        if e["LogicalResourceId"] == "Store" and e["ResourceStatus"] == "DELETE_COMPLETE"
    ]
    assert deleted == ["swap-new"]
    statuses = [s for name, s, _ in events(cfn, "swap") if name == "swap"]
    assert statuses[-3:] == [
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]

    # the stack can still be updated and deleted normally afterwards
    cfn.update_stack(StackName="swap", TemplateBody=TEMPLATE, Parameters=_given("swap-third"))
    assert finished(cfn, "swap")["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "swap")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert "swap-third" in buckets


def test_a_replacement_that_fails_keeps_the_old_resource(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    s3 = cfn_server.client("s3")
    s3.create_bucket(Bucket="taken-by-someone")
    cfn.create_stack(StackName="swap-taken", TemplateBody=TEMPLATE, Parameters=_given("mine-old"))
    assert finished(cfn, "swap-taken")["StackStatus"] == "CREATE_COMPLETE"
    cfn.update_stack(
        StackName="swap-taken", TemplateBody=TEMPLATE, Parameters=_given("taken-by-someone")
    )
    stack = finished(cfn, "swap-taken")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", events(cfn, "swap-taken")
    failed = [r for n, s, r in events(cfn, "swap-taken") if n == "Store" and s == "UPDATE_FAILED"]
    assert failed == ["taken-by-someone already exists"]
    store = cfn.describe_stack_resource(StackName="swap-taken", LogicalResourceId="Store")
    assert store["StackResourceDetail"]["PhysicalResourceId"] == "mine-old"
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"mine-old", "taken-by-someone"} <= buckets


FUNCTION = """
Parameters:
  Answer: {Type: String}
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: update-code-fn
      Runtime: python3.12
      Handler: index.handler
      Code:
        ZipFile: !Sub "def handler(event, context):\\n    return '${Answer}'\\n"
"""


def test_an_update_of_inline_code_reaches_the_function(cfn_server: MontemapServer) -> None:
    cfn, lam = client(cfn_server), cfn_server.client("lambda")
    given = [{"ParameterKey": "Answer", "ParameterValue": "first"}]
    cfn.create_stack(StackName="code-update", TemplateBody=FUNCTION, Parameters=given)
    assert finished(cfn, "code-update")["StackStatus"] == "CREATE_COMPLETE"
    assert lam.invoke(FunctionName="update-code-fn")["Payload"].read() == b'"first"'
    given = [{"ParameterKey": "Answer", "ParameterValue": "second"}]
    cfn.update_stack(StackName="code-update", TemplateBody=FUNCTION, Parameters=given)
    stack = finished(cfn, "code-update")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "code-update")
    assert lam.invoke(FunctionName="update-code-fn")["Payload"].read() == b'"second"'
