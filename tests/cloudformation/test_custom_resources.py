"""Custom resources as CloudFormation drives them: a new PhysicalResourceId on Update
means the old one is deleted at cleanup; FAILED answers and Data attributes."""

from __future__ import annotations

import json
from typing import Any

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished, outputs

TEMPLATE = """
Parameters:
  Id: {Type: String}
  Fail: {Type: String, Default: "no"}
Resources:
  Log:
    Type: AWS::S3::Bucket
    Properties: {BucketName: custom-requests-log}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/any
      Code:
        ZipFile: |
          import json, boto3, cfnresponse
          def handler(event, context):
              props = event["ResourceProperties"]
              key = f"{event['RequestType']}/{event.get('PhysicalResourceId', '-')}"
              boto3.client("s3").put_object(Bucket=props["Log"], Key=key, Body=json.dumps(event))
              if props.get("Fail") == "yes" and event["RequestType"] != "Delete":
                  cfnresponse.send(event, context, cfnresponse.FAILED, {}, reason="refused on purpose")
                  return
              data = {"Upper": props["Id"].upper(), "Nested.Name": "dotted"}
              cfnresponse.send(event, context, cfnresponse.SUCCESS, data, physicalResourceId=props["Id"])
  Thing:
    Type: Custom::Thing
    Properties:
      ServiceToken: !GetAtt Fn.Arn
      Log: !Ref Log
      Id: !Ref Id
      Fail: !Ref Fail
Outputs:
  Ref: {Value: !Ref Thing}
  Upper: {Value: !GetAtt Thing.Upper}
  Dotted: {Value: !GetAtt Thing.Nested.Name}
"""


def _given(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def _requests(server: MontemapServer) -> dict[str, dict[str, Any]]:
    s3 = server.client("s3")
    found = s3.list_objects_v2(Bucket="custom-requests-log").get("Contents", [])
    return {
        o["Key"]: json.loads(
            s3.get_object(Bucket="custom-requests-log", Key=o["Key"])["Body"].read()
        )
        for o in found
    }


def test_a_new_physical_id_on_update_deletes_the_old_one(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="custom-ids", TemplateBody=TEMPLATE, Parameters=_given(Id="first"))
    stack = finished(cfn, "custom-ids")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "custom-ids")
    assert outputs(stack) == {"Ref": "first", "Upper": "FIRST", "Dotted": "dotted"}

    cfn.update_stack(StackName="custom-ids", TemplateBody=TEMPLATE, Parameters=_given(Id="second"))
    stack = finished(cfn, "custom-ids")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "custom-ids")
    assert outputs(stack)["Ref"] == "second"
    requests = _requests(cfn_server)
    assert sorted(requests) == ["Create/-", "Delete/first", "Update/first"]
    deleted = requests["Delete/first"]
    assert deleted["PhysicalResourceId"] == "first"
    assert deleted["ResourceProperties"]["Id"] == "first"  # the old resource's properties
    assert ("Thing", "DELETE_COMPLETE") in [(n, s) for n, s, _ in events(cfn, "custom-ids")]

    # same id answered: an update in place, nothing deleted
    cfn.update_stack(
        StackName="custom-ids",
        TemplateBody=TEMPLATE + "  Extra: {Value: x}\n",
        Parameters=_given(Id="second", Fail="no"),
    )
    assert finished(cfn, "custom-ids")["StackStatus"] == "UPDATE_COMPLETE"

    # a FAILED answer fails the update with the function's reason, and it rolls back
    cfn.update_stack(
        StackName="custom-ids", TemplateBody=TEMPLATE, Parameters=_given(Id="third", Fail="yes")
    )
    assert finished(cfn, "custom-ids")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reasons = [r for n, s, r in events(cfn, "custom-ids") if n == "Thing" and s == "UPDATE_FAILED"]
    assert reasons and "refused on purpose" in reasons[-1]
    # the rollback asked the function to go back to the previous properties
    back = _requests(cfn_server)["Update/second"]
    assert (back["ResourceProperties"]["Id"], back["ResourceProperties"]["Fail"]) == (
        "second",
        "no",
    )
    assert back["OldResourceProperties"]["Fail"] == "yes"
    resource = cfn.describe_stack_resource(StackName="custom-ids", LogicalResourceId="Thing")
    assert resource["StackResourceDetail"]["PhysicalResourceId"] == "second"
