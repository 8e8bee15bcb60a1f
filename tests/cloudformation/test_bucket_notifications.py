"""A SAM function with an S3 event (``Events: Type: S3``): deployed as SAM deploys it (the
bucket's NotificationConfiguration, a Lambda permission), objects put into the bucket
invoke the function; an update that drops the event removes the configuration."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from montemap.testing import MontemapServer, eventually
from tests.cloudformation.helpers import client, events, finished

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: notified-uploads
  Results:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: notified-results
  OnUpload:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Environment:
        Variables:
          OUT: !Ref Results
      InlineCode: |
        import json, os, urllib.parse
        import boto3

        def handler(event, context):
            record = event["Records"][0]
            key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
            body = json.dumps({"event": record["eventName"], "size": record["s3"]["object"]["size"]})
            boto3.client("s3").put_object(Bucket=os.environ["OUT"], Key=key, Body=body)
      Events:
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - {Name: suffix, Value: .csv}
"""


def _result(s3: Any, key: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        try:
            body = s3.get_object(Bucket="notified-results", Key=key)["Body"].read()
        except ClientError:
            return None
        value: dict[str, Any] = json.loads(body)
        return value

    result: dict[str, Any] = eventually(found, what=f"the function's result for {key}")
    return result


def test_a_sam_s3_event_invokes_the_function(cfn_server: MontemapServer) -> None:
    cfn, s3 = client(cfn_server), cfn_server.client("s3")
    cfn.create_stack(
        StackName="notified",
        TemplateBody=TEMPLATE,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = finished(cfn, "notified")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "notified")
    (rule,) = s3.get_bucket_notification_configuration(Bucket="notified-uploads")[
        "LambdaFunctionConfigurations"
    ]
    assert rule["Events"] == ["s3:ObjectCreated:*"]
    function = cfn.describe_stack_resource(StackName="notified", LogicalResourceId="OnUpload")
    name = function["StackResourceDetail"]["PhysicalResourceId"]
    assert rule["LambdaFunctionArn"].split(":")[-1] == name

    s3.put_object(Bucket="notified-uploads", Key="day one.csv", Body=b"a,b\n1,2\n")
    assert _result(s3, "day one.csv") == {"event": "ObjectCreated:Put", "size": 8}

    without_event = TEMPLATE[: TEMPLATE.index("      Events:")]
    cfn.update_stack(
        StackName="notified",
        TemplateBody=without_event,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    assert finished(cfn, "notified")["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "notified")
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(
        Bucket="notified-uploads"
    )
