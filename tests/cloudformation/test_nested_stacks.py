"""Nested stacks (AWS::CloudFormation::Stack) from templates in montemap's S3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from montemap.testing import DUMMY_AWS_ENV, MontemapServer
from tests.cloudformation.helpers import client, events, finished, outputs

CHILD = """
Parameters:
  Name: {Type: String}
Resources:
  Store:
    Type: AWS::S3::Bucket
    Properties: {BucketName: !Ref Name}
Outputs:
  StoreName: {Value: !Ref Store}
  StoreArn: {Value: !GetAtt Store.Arn}
"""
PARENT = """
Resources:
  Child:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: %s
      Parameters: {Name: %s}
  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: !Sub "jobs-${Child.Outputs.StoreName}"}
Outputs:
  ChildId: {Value: !Ref Child}
  Arn: {Value: !GetAtt Child.Outputs.StoreArn}
  Jobs: {Value: !GetAtt Jobs.Name}
"""
BROKEN_CHILD = """
Resources:
  Store:
    Type: AWS::S3::Bucket
    Properties: {BucketName: nested-broken-store}
  Mystery:
    Type: AWS::DynamoDB::Table
    DependsOn: Store
"""


def _put(server: MontemapServer, bucket: str, key: str, body: str) -> None:
    s3 = server.client("s3")
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())


def _buckets(server: MontemapServer) -> set[str]:
    return {b["Name"] for b in server.client("s3").list_buckets()["Buckets"]}


def _children(cfn: Any, parent_id: str) -> list[dict[str, Any]]:
    summaries = cfn.list_stacks()["StackSummaries"]
    return [s for s in summaries if s.get("ParentId") == parent_id]


def test_nested_stack_parameters_outputs_and_deletion(cfn_server: MontemapServer) -> None:
    _put(cfn_server, "nested-templates", "child.yaml", CHILD)
    cfn = client(cfn_server)
    url = "https://s3.amazonaws.com/nested-templates/child.yaml"
    cfn.create_stack(StackName="nest", TemplateBody=PARENT % (url, "nested-one"))
    stack = finished(cfn, "nest")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "nest")
    shown = outputs(stack)
    assert shown["Arn"] == "arn:aws:s3:::nested-one"
    assert shown["Jobs"] == "jobs-nested-one"
    child = cfn.describe_stacks(StackName=shown["ChildId"])["Stacks"][0]
    assert child["ParentId"] == child["RootId"] == stack["StackId"]
    assert child["StackName"].startswith("nest-Child-")
    assert outputs(child) == {"StoreName": "nested-one", "StoreArn": "arn:aws:s3:::nested-one"}
    assert "nested-one" in _buckets(cfn_server)

    regional = "https://s3.us-east-1.amazonaws.com/nested-templates/child.yaml"
    cfn.update_stack(StackName="nest", TemplateBody=PARENT % (regional, "nested-two"))
    stack = finished(cfn, "nest")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "nest")
    assert outputs(stack)["Arn"] == "arn:aws:s3:::nested-two"
    assert outputs(stack)["ChildId"] == shown["ChildId"]  # the same child, updated
    assert {"nested-two"} <= _buckets(cfn_server) and "nested-one" not in _buckets(cfn_server)

    cfn.delete_stack(StackName="nest")
    gone = finished(cfn, stack["StackId"])
    assert gone["StackStatus"] == "DELETE_COMPLETE"
    child = cfn.describe_stacks(StackName=shown["ChildId"])["Stacks"][0]
    assert child["StackStatus"] == "DELETE_COMPLETE"
    assert "nested-two" not in _buckets(cfn_server)


def test_a_failing_nested_stack_rolls_back_with_its_parent(cfn_server: MontemapServer) -> None:
    _put(cfn_server, "nested-templates", "broken.yaml", BROKEN_CHILD)
    cfn = client(cfn_server)
    body = """
Resources:
  Before:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: nested-before}
  Child:
    Type: AWS::CloudFormation::Stack
    DependsOn: Before
    Properties: {TemplateURL: "https://nested-templates.s3.amazonaws.com/broken.yaml"}
"""
    cfn.create_stack(StackName="nest-broken", TemplateBody=body)
    stack = finished(cfn, "nest-broken")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", events(cfn, "nest-broken")
    reasons = [r for name, status, r in events(cfn, "nest-broken") if name == "Child" and r]
    assert any(
        r.startswith("Embedded stack arn:aws:cloudformation:")
        and "was not successfully created: The following resource(s) failed to create: [Mystery]"
        in r
        for r in reasons
    ), reasons
    (child,) = _children(cfn, stack["StackId"])
    assert child["StackStatus"] == "DELETE_COMPLETE"
    child_events = events(cfn, child["StackId"])
    assert any(
        "Unrecognized resource type: [AWS::DynamoDB::Table]" in r for _, _, r in child_events
    )
    assert "nested-broken-store" not in _buckets(cfn_server)
    activities = cfn_server.client().list_activities()["activities"]
    assert "nested-before" not in [a["name"] for a in activities]


def test_a_nested_template_that_is_missing_fails_the_parent(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    url = "https://s3.amazonaws.com/nested-templates/not-there.yaml"
    cfn.create_stack(StackName="nest-missing", TemplateBody=PARENT % (url, "nested-never"))
    stack = finished(cfn, "nest-missing")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [r for name, status, r in events(cfn, "nest-missing") if status == "CREATE_FAILED"]
    assert any("not-there.yaml could not be read" in r for r in reasons), reasons


PACKAGED_PARENT = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Child:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: child.yaml
      Parameters: {Name: packaged-store}
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: ./src
      Environment: {Variables: {STORE: !GetAtt Child.Outputs.StoreName}}
Outputs:
  Function: {Value: !Ref Hello}
"""


PACKAGE_TO = ["--s3-bucket", "packaged-artifacts", "--output-template-file"]
CAPS = ["--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def test_aws_cloudformation_package_then_deploy(cfn_server: MontemapServer, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(
        "import os\n\ndef handler(event, context):\n    return {'store': os.environ['STORE']}\n"
    )
    (tmp_path / "child.yaml").write_text(CHILD)
    (tmp_path / "parent.yaml").write_text(PACKAGED_PARENT)
    cfn_server.client("s3").create_bucket(Bucket="packaged-artifacts")
    env = {**os.environ, **DUMMY_AWS_ENV, "AWS_ENDPOINT_URL": cfn_server.url}
    aws = [sys.executable, "-m", "awscli", "cloudformation"]
    packaged = tmp_path / "packaged.yaml"
    run = subprocess.run(
        [*aws, "package", "--template-file", "parent.yaml", *PACKAGE_TO, str(packaged)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert run.returncode == 0, run.stderr
    text = packaged.read_text()
    assert "s3://packaged-artifacts/" in text and "/packaged-artifacts/" in text
    run = subprocess.run(
        [*aws, "deploy", "--template-file", str(packaged), "--stack-name", "packaged", *CAPS],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    stack = finished(client(cfn_server), "packaged")
    function = outputs(stack)["Function"]
    answer = cfn_server.client("lambda").invoke(FunctionName=function)["Payload"].read()
    assert answer == b'{"store": "packaged-store"}'
