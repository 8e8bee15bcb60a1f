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


OBSERVED = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /aws/states/t-observed}
  Watched:
    Type: AWS::Serverless::StateMachine
    Properties:
      Tracing: {Enabled: true}
      Logging:
        Level: ALL
        IncludeExecutionData: TRUE
        Destinations:
          - CloudWatchLogsLogGroup: {LogGroupArn: !GetAtt Logs.Arn}
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
Outputs:
  Watched: {Value: !Ref Watched}
"""


def test_logging_and_tracing_reach_the_state_machine(cfn_server: MontemapServer) -> None:
    cfn, sfn = client(cfn_server), cfn_server.client()
    capabilities = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    cfn.create_stack(StackName="t-observed", TemplateBody=OBSERVED, Capabilities=capabilities)
    stack = finished(cfn, "t-observed")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, "t-observed")
    arn = outputs(stack)["Watched"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["loggingConfiguration"] == {
        "level": "ALL",
        "includeExecutionData": True,
        "destinations": [
            {
                "cloudWatchLogsLogGroup": {
                    "logGroupArn": "arn:aws:logs:us-east-1:123456789012:"
                    "log-group:/aws/states/t-observed:*"
                }
            }
        ],
    }
    assert described["tracingConfiguration"] == {"enabled": True}
    quiet = OBSERVED.replace("      Tracing: {Enabled: true}\n", "")
    quiet = quiet[: quiet.index("      Logging:")] + quiet[quiet.index("      Definition:") :]
    cfn.update_stack(StackName="t-observed", TemplateBody=quiet, Capabilities=capabilities)
    assert finished(cfn, "t-observed")["StackStatus"] == "UPDATE_COMPLETE"
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["loggingConfiguration"]["level"] == "OFF"
    assert described["tracingConfiguration"] == {"enabled": False}
