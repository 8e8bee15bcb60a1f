"""Deploying templates against a real server: intrinsics, exports, SAM, custom resources."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from montemap.testing import MontemapServer, eventually
from tests.cloudformation.helpers import client, events, finished, outputs

INTRINSICS = """
AWSTemplateFormatVersion: "2010-09-09"
Description: every intrinsic function
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: 3}
  Names: {Type: CommaDelimitedList, Default: "alpha,beta,gamma"}
  Secret: {Type: String, NoEcho: true, Default: hush}
Mappings:
  Sizes:
    dev: {Workers: "2"}
    prod: {Workers: "8"}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [!Ref Size, 3]]
  Either: !Or [!Condition IsProd, !Condition Both]
Resources:
  Data:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Join ["-", [!Ref "AWS::StackName", data]]
  ProdOnly:
    Type: AWS::S3::Bucket
    Condition: IsProd
  Queue:
    Type: AWS::StepFunctions::Activity
    DependsOn: Data
    Properties:
      Name: !Sub "${AWS::StackName}-${Env}-queue"
Outputs:
  Bucket: {Value: !Ref Data}
  BucketArn: {Value: !GetAtt Data.Arn}
  BucketArnDotted: {Value: !GetAtt [Data, Arn]}
  SubLong: {Value: !Sub ["${Name} in ${AWS::Region}/${AWS::AccountId}", {Name: !Ref Queue}]}
  SubLiteral: {Value: !Sub "${!Literal}-${Queue.Name}"}
  Second: {Value: !Select [1, !Ref Names]}
  Split: {Value: !Select [2, !Split [":", "a:b:c"]]}
  Workers: {Value: !FindInMap [Sizes, !Ref Env, Workers]}
  Zone: {Value: !Select [0, !GetAZs ""]}
  Encoded: {Value: !Base64 "hello montemap"}
  Chosen: {Value: !If [Either, chosen, !Ref "AWS::NoValue"]}
  Pseudo: {Value: !Join ["|", [!Ref "AWS::Partition", !Ref "AWS::URLSuffix", !Ref "AWS::StackId"]]}
  ProdBucket: {Condition: IsProd, Value: !Ref ProdOnly}
"""


def test_yaml_short_tags_parameters_conditions_and_every_intrinsic(
    cfn_server: MontemapServer,
) -> None:
    cfn = client(cfn_server)
    stack_id = cfn.create_stack(
        StackName="intrinsics",
        TemplateBody=INTRINSICS,
        Parameters=[{"ParameterKey": "Names", "ParameterValue": "x,y,z"}],
    )["StackId"]
    stack = finished(cfn, "intrinsics")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "intrinsics")
    got = outputs(stack)
    region, account = stack_id.split(":")[3], stack_id.split(":")[4]
    assert got["Bucket"] == "intrinsics-data"
    assert got["BucketArn"] == got["BucketArnDotted"] == "arn:aws:s3:::intrinsics-data"
    activity = f"arn:aws:states:{region}:{account}:activity:intrinsics-dev-queue"
    assert got["SubLong"] == f"{activity} in {region}/{account}"
    assert got["SubLiteral"] == "${Literal}-intrinsics-dev-queue"
    assert got["Second"] == "y"
    assert got["Split"] == "c"
    assert got["Workers"] == "2"
    assert got["Zone"] == f"{region}a"
    assert base64.b64decode(got["Encoded"]) == b"hello montemap"
    assert got["Chosen"] == "chosen"
    assert got["Pseudo"] == f"aws|amazonaws.com|{stack_id}"
    assert "ProdBucket" not in got
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert shown == {"Env": "dev", "Size": "3", "Names": "x,y,z", "Secret": "****"}
    logical = {
        r["LogicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="intrinsics")["StackResources"]
    }
    assert logical == {"Data", "Queue"}
    sfn = cfn_server.client()
    assert sfn.describe_activity(activityArn=activity)["name"] == "intrinsics-dev-queue"
    s3 = cfn_server.client("s3")
    assert "intrinsics-data" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


EXPORTER = """
Resources:
  Source: {Type: AWS::S3::Bucket}
Outputs:
  SourceBucket:
    Value: !Ref Source
    Export: {Name: shared-source-bucket}
  Size:
    Value: "1000"
    Export: {Name: shared-dataset-size}
"""
IMPORTER = """
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      Definition:
        StartAt: Done
        States:
          Done: {Type: Pass, Result: {bucket: "${Bucket}", size: "${Size}"}, End: true}
      DefinitionSubstitutions:
        Bucket: !ImportValue shared-source-bucket
        Size: !ImportValue shared-dataset-size
Outputs:
  Machine: {Value: !Ref Machine}
  MachineName: {Value: !GetAtt Machine.Name}
"""


def test_exports_and_imports_across_two_stacks(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="exporter", TemplateBody=EXPORTER)
    exporter = finished(cfn, "exporter")
    assert exporter["StackStatus"] == "CREATE_COMPLETE", events(cfn, "exporter")
    bucket = outputs(exporter)["SourceBucket"]
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    assert exports["shared-source-bucket"] == bucket
    cfn.create_stack(StackName="importer", TemplateBody=IMPORTER)
    importer = finished(cfn, "importer")
    assert importer["StackStatus"] == "CREATE_COMPLETE", events(cfn, "importer")
    sfn = cfn_server.client()
    arn = outputs(importer)["Machine"]
    assert outputs(importer)["MachineName"] == arn.rsplit(":", 1)[1]
    run = sfn.start_execution(stateMachineArn=arn)
    result = eventually(
        lambda: (
            (d := sfn.describe_execution(executionArn=run["executionArn"]))["status"] != "RUNNING"
            and d
        ),
        timeout=30,
    )
    assert json.loads(result["output"]) == {"bucket": bucket, "size": "1000"}
    with pytest.raises(cfn.exceptions.ClientError, match="in use by importer"):
        cfn.delete_stack(StackName="exporter")
    cfn.delete_stack(StackName="importer")
    assert finished(cfn, importer["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    cfn.delete_stack(StackName="exporter")
    assert finished(cfn, exporter["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert "shared-source-bucket" not in {e["Name"] for e in cfn.list_exports()["Exports"]}
    s3 = cfn_server.client("s3")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


CUSTOM = """
Parameters:
  Greeting: {Type: String, Default: hello}
Resources:
  Handler:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Timeout: 30
      Code:
        ZipFile: |
          import cfnresponse
          def handler(event, context):
              props = event["ResourceProperties"]
              data = {"Echo": props["Greeting"].upper(), "Kind": event["RequestType"]}
              cfnresponse.send(event, context, cfnresponse.SUCCESS, data, "custom-" + props["Greeting"])
  Thing:
    Type: Custom::Echo
    Properties:
      ServiceToken: !GetAtt Handler.Arn
      Greeting: !Ref Greeting
Outputs:
  Echo: {Value: !GetAtt Thing.Echo}
  Kind: {Value: !GetAtt Thing.Kind}
  Physical: {Value: !Ref Thing}
"""


def test_custom_resource_with_inline_python_and_cfnresponse(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="custom", TemplateBody=CUSTOM)
    stack = finished(cfn, "custom")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "custom")
    assert outputs(stack) == {"Echo": "HELLO", "Kind": "Create", "Physical": "custom-hello"}
    cfn.update_stack(
        StackName="custom",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "bonjour"}],
    )
    stack = finished(cfn, "custom")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "custom")
    assert outputs(stack) == {"Echo": "BONJOUR", "Kind": "Update", "Physical": "custom-bonjour"}
    cfn.delete_stack(StackName="custom")
    stack = finished(cfn, stack["StackId"])
    assert stack["StackStatus"] == "DELETE_COMPLETE"
    lam = cfn_server.client("lambda")
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert not [n for n in names if n.startswith("custom-Handler")]


SAM = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Timeout: 20
      MemorySize: 256
      Environment:
        Variables: {PREFIX: "hi "}
      Policies: [AmazonS3ReadOnlyAccess]
      InlineCode: |
        import os
        def handler(event, context):
            return {"message": os.environ["PREFIX"] + event["name"]}
Outputs:
  Function: {Value: !Ref Greeter}
  Role: {Value: !Ref GreeterRole}
"""


def test_sam_function_is_deployed_and_runs(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(
        StackName="sam", TemplateBody=SAM, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    )
    stack = finished(cfn, "sam")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "sam")
    name = outputs(stack)["Function"]
    lam = cfn_server.client("lambda")
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["Timeout"], config["MemorySize"]) == (20, 256)
    reply = lam.invoke(FunctionName=name, Payload=json.dumps({"name": "sam"}).encode())
    assert json.loads(reply["Payload"].read()) == {"message": "hi sam"}
    iam = cfn_server.client("iam")
    role = iam.get_role(RoleName=outputs(stack)["Role"])["Role"]
    assert role["Arn"].endswith(f":role/{outputs(stack)['Role']}")
    types = {
        r["ResourceType"]
        for r in cfn.list_stack_resources(StackName="sam")["StackResourceSummaries"]
    }
    assert types == {"AWS::Lambda::Function", "AWS::IAM::Role"}


def test_stacks_survive_a_restart(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="durable", TemplateBody=EXPORTER.replace("shared-", "durable-"))
    before = finished(cfn, "durable")
    assert before["StackStatus"] == "CREATE_COMPLETE"
    cfn_server.restart()
    cfn = client(cfn_server)
    after = cfn.describe_stacks(StackName="durable")["Stacks"][0]
    assert (after["StackId"], outputs(after)) == (before["StackId"], outputs(before))
    assert len(events(cfn, "durable")) >= 4
    assert "durable-source-bucket" in {e["Name"] for e in cfn.list_exports()["Exports"]}


def _iam_calls(iam: Any) -> None:
    iam.create_role(RoleName="workers", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    iam.put_role_policy(RoleName="workers", PolicyName="p", PolicyDocument="{}")
    iam.attach_role_policy(RoleName="workers", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")


def test_iam_subset(cfn_server: MontemapServer) -> None:
    iam = cfn_server.client("iam")
    _iam_calls(iam)
    names = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert {"workers", "AWSServiceRoleForEcs"} <= set(names)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="nobody")
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName="workers", AssumeRolePolicyDocument="{}")
