"""``Transform: AWS::LanguageExtensions`` (Fn::ForEach, Fn::Length, Fn::ToJsonString)."""

from __future__ import annotations

import json

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished, outputs

TEMPLATE = """
Transform: AWS::LanguageExtensions
Parameters:
  Names: {Type: CommaDelimitedList, Default: "alpha,beta-2"}
Mappings:
  Policy: {us-east-1: {Value: Retain}}
Conditions:
  Fn::ForEach::Is:
    - Name
    - !Ref Names
    - "Is&{Name}": !Equals [!Ref Name, alpha]
Resources:
  Fn::ForEach::Jobs:
    - Name
    - !Ref Names
    - "Jobs&{Name}":
        Type: AWS::StepFunctions::Activity
        Properties: {Name: !Sub "le-${AWS::StackName}-${Name}"}
  OnlyAlpha:
    Type: AWS::StepFunctions::Activity
    Condition: Isalpha
    DeletionPolicy: !FindInMap [Policy, !Ref "AWS::Region", Value]
    Properties: {Name: !Sub "le-${AWS::StackName}-kept"}
Outputs:
  Fn::ForEach::Out:
    - Name
    - !Ref Names
    - Fn::ForEach::Attribute:
        - Attribute
        - [Arn, Name]
        - "&{Name}${Attribute}":
            Value: !GetAtt [!Sub "Jobs&{Name}", !Ref Attribute]
  Count:
    Value: {"Fn::Length": !Ref Names}
  Json:
    Value: {"Fn::ToJsonString": {"names": !Ref Names, "job": !GetAtt Jobsalpha.Name}}
"""

#: A template with a transform, made into a stack directly, needs this (as on AWS).
EXPAND = ["CAPABILITY_AUTO_EXPAND"]


def test_for_each_length_and_to_json_string(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="lang", TemplateBody=TEMPLATE, Capabilities=EXPAND)
    stack = finished(cfn, "lang")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "lang")
    shown = outputs(stack)
    assert shown["alphaName"] == "le-lang-alpha" and shown["beta2Name"] == "le-lang-beta-2"
    assert shown["alphaArn"].endswith(":activity:le-lang-alpha")
    assert shown["Count"] == "2"
    assert json.loads(shown["Json"]) == {"names": ["alpha", "beta-2"], "job": "le-lang-alpha"}
    assert ", " not in shown["Json"]  # compact, as CloudFormation writes it
    logical = {
        r["LogicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="lang")["StackResources"]
    }
    assert logical == {"Jobsalpha", "Jobsbeta2", "OnlyAlpha"}

    cfn.delete_stack(StackName="lang")
    assert finished(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    names = {a["name"] for a in cfn_server.client().list_activities()["activities"]}
    assert "le-lang-kept" in names  # DeletionPolicy resolved to Retain
    assert not {"le-lang-alpha", "le-lang-beta-2"} & names


def test_a_for_each_key_without_the_identifier_is_an_event(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    body = TEMPLATE.replace('"Jobs&{Name}":', "Jobs:")
    cfn.create_stack(StackName="lang-bad", TemplateBody=body, Capabilities=EXPAND)
    assert finished(cfn, "lang-bad")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, "lang-bad") if s == "CREATE_FAILED"]
    assert failed == [
        "Transform AWS::LanguageExtensions failed with: the output key Jobs of "
        "Fn::ForEach::Jobs must use ${Name} or &{Name}"
    ]


def test_an_unknown_transform_is_an_event_and_rolls_back(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    body = "Transform: AWS::Include\nResources:\n  A: {Type: AWS::StepFunctions::Activity}\n"
    cfn.create_stack(StackName="lang-include", TemplateBody=body, Capabilities=EXPAND)
    assert finished(cfn, "lang-include")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [r for _, s, r in events(cfn, "lang-include") if s == "CREATE_FAILED"]
    assert len(failed) == 1 and "Transform AWS::Include is not supported here" in failed[0]


def test_language_extensions_before_sam(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    body = """
Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]
Resources:
  Fn::ForEach::Functions:
    - Greeting
    - [hello, bye]
    - "&{Greeting}Function":
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.12
          Handler: index.handler
          InlineCode: !Sub "def handler(event, context):\\n    return '${Greeting}'\\n"
Outputs:
  Bye: {Value: !Ref byeFunction}
"""
    cfn.create_stack(
        StackName="lang-sam",
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = finished(cfn, "lang-sam")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "lang-sam")
    answer = cfn_server.client("lambda").invoke(FunctionName=outputs(stack)["Bye"])
    assert answer["Payload"].read() == b'"bye"'
