"""A custom resource backed by an inline Node.js function using CloudFormation's ``cfn-response``."""

from __future__ import annotations

import shutil

import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished, outputs

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node on the host")

NODE_CUSTOM = """
Parameters:
  Word: {Type: String, Default: montemap}
Resources:
  Handler:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      Timeout: 30
      Code:
        ZipFile: |
          const response = require("cfn-response");
          exports.handler = function (event, context) {
            const props = event.ResourceProperties;
            if (props.Word === "fail") {
              response.send(event, context, response.FAILED, {}, "node-failed");
              return;
            }
            const data = {Length: String(props.Word.length), Kind: event.RequestType,
                          Reversed: props.Word.split("").reverse().join("")};
            response.send(event, context, response.SUCCESS, data, "node-" + props.Word);
          };
  Thing:
    Type: Custom::Word
    Properties:
      ServiceToken: !GetAtt Handler.Arn
      Word: !Ref Word
Outputs:
  Length: {Value: !GetAtt Thing.Length}
  Kind: {Value: !GetAtt Thing.Kind}
  Reversed: {Value: !GetAtt Thing.Reversed}
  Physical: {Value: !Ref Thing}
"""


def test_node_cfn_response_creates_updates_and_deletes(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="node-custom", TemplateBody=NODE_CUSTOM)
    stack = finished(cfn, "node-custom")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "node-custom")
    assert outputs(stack) == {
        "Length": "8",
        "Kind": "Create",
        "Reversed": "pametnom",
        "Physical": "node-montemap",
    }
    cfn.update_stack(
        StackName="node-custom",
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": "Word", "ParameterValue": "abc"}],
    )
    stack = finished(cfn, "node-custom")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "node-custom")
    assert outputs(stack)["Kind"] == "Update"
    assert outputs(stack)["Physical"] == "node-abc"
    cfn.delete_stack(StackName="node-custom")
    assert finished(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_node_cfn_response_failed_rolls_the_stack_back(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(
        StackName="node-fails",
        TemplateBody=NODE_CUSTOM,
        Parameters=[{"ParameterKey": "Word", "ParameterValue": "fail"}],
    )
    stack = finished(cfn, "node-fails")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in events(cfn, "node-fails") if e[:2] == ("Thing", "CREATE_FAILED")]
    assert failed, events(cfn, "node-fails")
    assert "CloudWatch Log Stream" in failed[0][2]  # the reason cfn-response sent
