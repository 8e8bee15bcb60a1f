"""Ref and Fn::GetAtt of each resource type that acts, as CloudFormation documents them;
a stack of an ECS cluster and its service deletes (the service drains first)."""

from __future__ import annotations

import io
import re
import zipfile

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished, outputs

TEMPLATE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Inline:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: inline
      Roles: [!Ref Role]
      PolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:*", Resource: "*"}]}
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Roles: [!Ref Role]
      PolicyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:*", Resource: "*"}]}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code: {ZipFile: "def handler(e, c):\\n    return 1\\n"}
  Ver:
    Type: AWS::Lambda::Version
    Properties: {FunctionName: !Ref Fn}
  Live:
    Type: AWS::Lambda::Alias
    Properties: {FunctionName: !Ref Fn, FunctionVersion: !GetAtt Ver.Version, Name: live}
  Cluster: {Type: AWS::ECS::Cluster}
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: attributes-task
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      NetworkMode: awsvpc
      ContainerDefinitions: [{Name: main, Image: busybox, Command: ["true"]}]
  Service:
    Type: AWS::ECS::Service
    Properties: {Cluster: !Ref Cluster, TaskDefinition: !Ref Task, DesiredCount: 0, LaunchType: FARGATE}
Outputs:
  InlineId: {Value: !GetAtt Inline.Id}
  ManagedRef: {Value: !Ref Managed}
  ManagedArn: {Value: !GetAtt Managed.PolicyArn}
  ManagedId: {Value: !GetAtt Managed.PolicyId}
  ManagedVersion: {Value: !GetAtt Managed.DefaultVersionId}
  FnArn: {Value: !GetAtt Fn.Arn}
  FnSnapStart: {Value: !GetAtt Fn.SnapStartResponse.ApplyOn}
  VerRef: {Value: !Ref Ver}
  VerVersion: {Value: !GetAtt Ver.Version}
  AliasRef: {Value: !Ref Live}
  AliasArn: {Value: !GetAtt Live.AliasArn}
  ClusterRef: {Value: !Ref Cluster}
  ClusterArn: {Value: !GetAtt Cluster.Arn}
  TaskRef: {Value: !Ref Task}
  ServiceRef: {Value: !Ref Service}
  ServiceName: {Value: !GetAtt Service.Name}
"""


def test_ref_and_getatt_of_each_type(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="attributes", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"])
    stack = finished(cfn, "attributes")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "attributes")
    out = outputs(stack)
    function = out["FnArn"]
    assert re.fullmatch(
        r"arn:aws:lambda:us-east-1:123456789012:function:attributes-Fn-\w+", function
    )
    assert out["FnSnapStart"] == "None"
    assert (out["VerRef"], out["VerVersion"]) == (f"{function}:1", "1")
    assert out["AliasRef"] == out["AliasArn"] == f"{function}:live"
    assert out["ManagedRef"] == out["ManagedArn"]
    assert out["ManagedArn"].startswith("arn:aws:iam::123456789012:policy/")
    assert re.fullmatch(r"ANPA[0-9A-Z]{17}", out["ManagedId"])
    assert out["ManagedVersion"] == "v1"
    assert out["InlineId"]
    cluster = out["ClusterRef"]
    assert out["ClusterArn"] == f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"
    assert out["TaskRef"].endswith(":task-definition/attributes-task:1")
    assert out["ServiceRef"].endswith(f":service/{cluster}/{out['ServiceName']}")

    cfn.delete_stack(StackName="attributes")
    stack_id = stack["StackId"]
    deleted = finished(cfn, stack_id)
    assert deleted["StackStatus"] == "DELETE_COMPLETE", events(cfn, stack_id)


def _zip(body: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("index.py", body)
    return buffer.getvalue()


ROUTED = """
Parameters:
  Function: {Type: String}
  Routed: {Type: String, AllowedValues: ["yes", "no"]}
Conditions:
  IsRouted: !Equals [!Ref Routed, "yes"]
Resources:
  Live:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Function
      FunctionVersion: "2"
      Name: live
      RoutingConfig: !If
        - IsRouted
        - AdditionalVersionWeights: [{FunctionVersion: "1", FunctionWeight: 0.25}]
        - !Ref AWS::NoValue
"""


def test_an_alias_routing_config_reaches_the_alias(cfn_server: MontemapServer) -> None:
    """The template's list of ``{FunctionVersion, FunctionWeight}`` is Lambda's
    ``AdditionalVersionWeights`` map; an update without it removes the routing."""
    cfn, lam = client(cfn_server), client(cfn_server, "lambda")
    role = "arn:aws:iam::123456789012:role/routed"
    lam.create_function(
        FunctionName="routed", Runtime="python3.12", Role=role, Handler="index.handler",
        Code={"ZipFile": _zip("def handler(e, c):\n    return 1\n")},
    )  # fmt: skip
    lam.publish_version(FunctionName="routed")
    lam.update_function_code(
        FunctionName="routed", ZipFile=_zip("def handler(e, c):\n    return 2\n")
    )
    assert lam.publish_version(FunctionName="routed")["Version"] == "2"

    def parameters(routed: str) -> list[dict[str, str]]:
        return [
            {"ParameterKey": "Function", "ParameterValue": "routed"},
            {"ParameterKey": "Routed", "ParameterValue": routed},
        ]

    cfn.create_stack(StackName="routed", TemplateBody=ROUTED, Parameters=parameters("yes"))
    assert finished(cfn, "routed")["StackStatus"] == "CREATE_COMPLETE", events(cfn, "routed")
    alias = lam.get_alias(FunctionName="routed", Name="live")
    assert alias["FunctionVersion"] == "2"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}}
    cfn.update_stack(StackName="routed", TemplateBody=ROUTED, Parameters=parameters("no"))
    assert finished(cfn, "routed")["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "routed")
    assert "RoutingConfig" not in lam.get_alias(FunctionName="routed", Name="live")
