"""AWS::StepFunctions::StateMachine and Activity resources: a YAML definition in S3, a
changed machine type, tags that follow the template."""

from __future__ import annotations

import json

import pytest

from montemap.testing import MontemapServer, eventually
from tests.cloudformation.helpers import client, events, finished, outputs

MACHINES = """
Parameters:
  Kind: {Type: String, Default: STANDARD}
Resources:
  FromYaml:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/states
      DefinitionS3Location: {Bucket: t-definitions, Key: machine.yaml}
      DefinitionSubstitutions: {Greeting: hello}
  Typed:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/states
      StateMachineType: !Ref Kind
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
Outputs:
  FromYaml: {Value: !Ref FromYaml}
  Typed: {Value: !Ref Typed}
"""
YAML_DEFINITION = b"""
StartAt: Greet
States:
  Greet:
    Type: Pass
    Result: {greeting: "${Greeting}"}
    End: true
"""


def test_a_yaml_definition_in_s3_and_a_changed_machine_type(cfn_server: MontemapServer) -> None:
    """A definition file in S3 may be YAML (it becomes JSON); StateMachineType changes only
    by replacement."""
    cfn, sfn, s3 = client(cfn_server), cfn_server.client(), cfn_server.client("s3")
    s3.create_bucket(Bucket="t-definitions")
    s3.put_object(Bucket="t-definitions", Key="machine.yaml", Body=YAML_DEFINITION)
    cfn.create_stack(StackName="t-machines", TemplateBody=MACHINES)
    stack = finished(cfn, "t-machines")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "t-machines")
    arn = outputs(stack)["FromYaml"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert definition["States"]["Greet"]["Result"] == {"greeting": "hello"}
    run = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    done = eventually(
        lambda: (d := sfn.describe_execution(executionArn=run))["status"] != "RUNNING" and d,
        timeout=30,
    )
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"greeting": "hello"})
    typed = outputs(stack)["Typed"]
    cfn.update_stack(
        StackName="t-machines",
        TemplateBody=MACHINES,
        Parameters=[{"ParameterKey": "Kind", "ParameterValue": "EXPRESS"}],
    )
    stack = finished(cfn, "t-machines")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", events(cfn, "t-machines")
    replaced = outputs(stack)["Typed"]
    assert replaced != typed
    assert sfn.describe_state_machine(stateMachineArn=replaced)["type"] == "EXPRESS"
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=typed)


TAGGED = """
Parameters:
  Team: {Type: String}
Conditions:
  Owned: !Not [!Equals [!Ref Team, none]]
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/states
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
      Tags:
        - {Key: app, Value: loans}
        - !If [Owned, {Key: team, Value: !Ref Team}, !Ref AWS::NoValue]
  Jobs:
    Type: AWS::StepFunctions::Activity
    Properties:
      Name: t-tagged-jobs
      Tags:
        - !If [Owned, {Key: team, Value: !Ref Team}, !Ref AWS::NoValue]
"""


def test_tags_of_state_machines_and_activities_follow_the_template(
    cfn_server: MontemapServer,
) -> None:
    cfn, sfn = client(cfn_server), cfn_server.client()

    def tags(logical: str) -> dict[str, str]:
        arn = cfn.describe_stack_resource(StackName="t-tagged", LogicalResourceId=logical)[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
        found = sfn.list_tags_for_resource(resourceArn=arn)["tags"]
        return {t["key"]: t["value"] for t in found}

    def deploy(team: str, *, update: bool) -> None:
        given = [{"ParameterKey": "Team", "ParameterValue": team}]
        call = cfn.update_stack if update else cfn.create_stack
        call(StackName="t-tagged", TemplateBody=TAGGED, Parameters=given)
        assert finished(cfn, "t-tagged")["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")

    deploy("data", update=False)
    assert tags("Machine") == {"app": "loans", "team": "data"}
    assert tags("Jobs") == {"team": "data"}
    deploy("ops", update=True)
    assert (tags("Machine"), tags("Jobs")) == ({"app": "loans", "team": "ops"}, {"team": "ops"})
    deploy("none", update=True)
    assert (tags("Machine"), tags("Jobs")) == ({"app": "loans"}, {})
