"""AWS::StepFunctions::StateMachineVersion and StateMachineAlias: SAM's AutoPublishAlias
publishes a version per revision and moves its alias; routing splits between two versions."""

from __future__ import annotations

import json
from typing import Any

from montemap.testing import MontemapServer, eventually
from tests.cloudformation.helpers import client, events, finished, outputs

PUBLISHED = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      AutoPublishAlias: current
      Definition:
        StartAt: Answer
        States:
          Answer: {Type: Pass, Result: {revision: 1}, End: true}
Outputs:
  Alias: {Value: !Ref FlowAliascurrent}
  Version: {Value: !Ref FlowVersion}
"""
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def _run(server: MontemapServer, arn: str) -> dict[str, Any]:
    sfn = server.client()
    run = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    done: dict[str, Any] = eventually(
        lambda: (d := sfn.describe_execution(executionArn=run))["status"] != "RUNNING" and d,
        timeout=30,
    )
    return done


def test_auto_publish_alias_publishes_each_revision(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_stack(StackName="t-published", TemplateBody=PUBLISHED, Capabilities=CAPABILITIES)
    stack = finished(cfn, "t-published")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "t-published")
    first = outputs(stack)
    assert first["Alias"].endswith(":current") and first["Version"].endswith(":1")
    done = _run(cfn_server, first["Alias"])
    assert json.loads(done["output"]) == {"revision": 1}
    assert done["stateMachineVersionArn"] == first["Version"]

    cfn.update_stack(
        StackName="t-published",
        TemplateBody=PUBLISHED.replace("revision: 1", "revision: 2"),
        Capabilities=CAPABILITIES,
    )
    stack = finished(cfn, "t-published")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "t-published")
    second = outputs(stack)
    assert second["Alias"] == first["Alias"] and second["Version"].endswith(":2")
    done = _run(cfn_server, second["Alias"])
    assert json.loads(done["output"]) == {"revision": 2}
    # SAM retains the versions it replaces
    machine = first["Alias"].rsplit(":", 1)[0]
    listed = cfn_server.client().list_state_machine_versions(stateMachineArn=machine)
    versions = {v["stateMachineVersionArn"] for v in listed["stateMachineVersions"]}
    assert versions == {first["Version"], second["Version"]}


ROUTED = """
Parameters:
  Result: {Type: String, Default: one}
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/states
      Definition:
        StartAt: P
        States:
          P: {Type: Pass, Result: !Ref Result, End: true}
  First:
    Type: AWS::StepFunctions::StateMachineVersion
    Properties: {StateMachineArn: !Ref Machine, Description: first}
  Split:
    Type: AWS::StepFunctions::StateMachineAlias
    Properties:
      Name: split
      RoutingConfiguration:
        - {StateMachineVersionArn: !Ref First, Weight: 100}
  Canary:
    Type: AWS::StepFunctions::StateMachineAlias
    Properties:
      Name: canary
      DeploymentPreference:
        StateMachineVersionArn: !GetAtt First.Arn
        Type: CANARY
        Percentage: 10
        Interval: 5
Outputs:
  First: {Value: !Ref First}
  Split: {Value: !Ref Split}
  Canary: {Value: !GetAtt Canary.Arn}
"""


def test_alias_routing_and_deployment_preference(cfn_server: MontemapServer) -> None:
    cfn, sfn = client(cfn_server), cfn_server.client()
    cfn.create_stack(StackName="t-routed", TemplateBody=ROUTED)
    stack = finished(cfn, "t-routed")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "t-routed")
    shown = outputs(stack)
    split = sfn.describe_state_machine_alias(stateMachineAliasArn=shown["Split"])
    assert split["routingConfiguration"] == [
        {"stateMachineVersionArn": shown["First"], "weight": 100}
    ]
    described = sfn.describe_state_machine(stateMachineArn=shown["First"])
    assert described["description"] == "first"
    # a new version of the updated machine; the canary moves to it at once, and says so
    body = ROUTED.replace("!GetAtt First.Arn", "!Ref Second").replace(
        "  Split:\n    Type",
        "  Second:\n    Type: AWS::StepFunctions::StateMachineVersion\n"
        "    DependsOn: First\n"
        "    Properties: {StateMachineArn: !Ref Machine, StateMachineRevisionId: "
        "!GetAtt Machine.StateMachineRevisionId}\n  Split:\n    Type",
    )
    body = body.replace(
        "- {StateMachineVersionArn: !Ref First, Weight: 100}",
        "- {StateMachineVersionArn: !Ref First, Weight: 50}\n"
        "        - {StateMachineVersionArn: !Ref Second, Weight: 50}",
    )
    cfn.update_stack(
        StackName="t-routed",
        TemplateBody=body,
        Parameters=[{"ParameterKey": "Result", "ParameterValue": "two"}],
    )
    stack = finished(cfn, "t-routed")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "t-routed")
    canary = sfn.describe_state_machine_alias(stateMachineAliasArn=shown["Canary"])
    (route,) = canary["routingConfiguration"]
    assert route["weight"] == 100 and route["stateMachineVersionArn"].endswith(":2")
    assert json.loads(_run(cfn_server, shown["Canary"])["output"]) == "two"
    split = sfn.describe_state_machine_alias(stateMachineAliasArn=shown["Split"])
    assert sorted(r["weight"] for r in split["routingConfiguration"]) == [50, 50]
    notes = [r for name, _, r in events(cfn, "t-routed") if name == "Canary" and r]
    assert any("CANARY: all executions moved to the new version at once" in n for n in notes)
    cfn.delete_stack(StackName="t-routed")
    gone = finished(cfn, stack["StackId"])
    assert gone["StackStatus"] == "DELETE_COMPLETE", events(cfn, stack["StackId"])


SAME_REVISION = """
Parameters:
  Note: {Type: String, Default: first}
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/states
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
  Version:
    Type: AWS::StepFunctions::StateMachineVersion
    Properties: {StateMachineArn: !Ref Machine, Description: !Ref Note}
Outputs:
  Version: {Value: !Ref Version}
"""


def test_a_version_republished_for_the_same_revision_is_kept(cfn_server: MontemapServer) -> None:
    """A new Description replaces the version, but publishing the unchanged revision gives
    the same version back (PublishStateMachineVersion is idempotent): the cleanup must not
    delete it."""
    cfn, sfn = client(cfn_server), cfn_server.client()
    cfn.create_stack(StackName="t-same-revision", TemplateBody=SAME_REVISION)
    stack = finished(cfn, "t-same-revision")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "t-same-revision")
    version = outputs(stack)["Version"]
    cfn.update_stack(
        StackName="t-same-revision",
        TemplateBody=SAME_REVISION,
        Parameters=[{"ParameterKey": "Note", "ParameterValue": "second"}],
    )
    stack = finished(cfn, "t-same-revision")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "t-same-revision")
    assert outputs(stack)["Version"] == version
    assert sfn.describe_state_machine(stateMachineArn=version)["stateMachineArn"] == version
