"""Each bad input gives a stack event with its reason, and the stack rolls back."""

from __future__ import annotations

import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.conftest import CUSTOM_TIMEOUT
from tests.cloudformation.helpers import client, events, finished

BUCKET_FIRST = """
Resources:
  First:
    Type: AWS::S3::Bucket
    Properties: {BucketName: %s}
"""
RAISES = """
  Fails:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Code:
        ZipFile: |
          def handler(event, context):
              raise RuntimeError("the handler broke on purpose")
  Thing:
    Type: Custom::Broken
    DependsOn: First
    Properties: {ServiceToken: !GetAtt Fails.Arn}
"""
SILENT = """
  Silent:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Code:
        ZipFile: |
          def handler(event, context):
              return "I never call cfnresponse"
  Thing:
    Type: Custom::Silent
    DependsOn: First
    Properties: {ServiceToken: !GetAtt Silent.Arn}
"""
CASES = {
    "unknown-type": (
        "  Mystery:\n    Type: AWS::Made::Up\n    DependsOn: First\n",
        "Unrecognized resource type: [AWS::Made::Up]",
    ),
    "missing-parameter": (
        "  Other:\n    Type: AWS::S3::Bucket\n    Properties: {BucketName: !Ref Needed}\n"
        "Parameters:\n  Needed: {Type: String}\n",
        "Parameters: [Needed] must have values",
    ),
    "circular": (
        "  A:\n    Type: AWS::StepFunctions::Activity\n    DependsOn: B\n"
        "  B:\n    Type: AWS::StepFunctions::Activity\n    DependsOn: A\n",
        "Circular dependency between resources: [A, B]",
    ),
    "no-export": (
        "  Other:\n    Type: AWS::S3::Bucket\n    DependsOn: First\n"
        "    Properties: {BucketName: !ImportValue nobody-exports-this}\n",
        "No export named nobody-exports-this found.",
    ),
    "lambda-raises": (RAISES, "RuntimeError: the handler broke on purpose"),
    "never-answers": (SILENT, f"did not answer within {CUSTOM_TIMEOUT} s"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_an_event_and_rolls_back(cfn_server: MontemapServer, case: str) -> None:
    cfn = client(cfn_server)
    body, reason = CASES[case]
    bucket = f"bad-{case}-first"
    cfn.create_stack(StackName=f"bad-{case}", TemplateBody=BUCKET_FIRST % bucket + body)
    stack = finished(cfn, f"bad-{case}")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE", events(cfn, f"bad-{case}")
    reasons = [r for _, status, r in events(cfn, f"bad-{case}") if status.endswith("FAILED")]
    assert any(reason in r for r in reasons), reasons
    s3 = cfn_server.client("s3")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert cfn.list_stack_resources(StackName=f"bad-{case}")["StackResourceSummaries"] == []


def test_a_template_that_does_not_parse_is_refused(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    with pytest.raises(cfn.exceptions.ClientError, match="Template format error"):
        cfn.create_stack(StackName="unparsable", TemplateBody="Resources: [1, 2")
