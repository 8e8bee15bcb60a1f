"""GetTemplate: the template as written (Original) and once its transforms ran (Processed)."""

from __future__ import annotations

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished

SAM = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Answer: {Type: String, Default: yes}
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: P, States: {P: {Type: Pass, Result: answer, End: true}}}
      Tags: {answer: !Ref Answer}
"""
PLAIN = "Resources:\n  Jobs: {Type: AWS::StepFunctions::Activity}\n"


def test_processed_template_is_the_expanded_one(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    capabilities = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    cfn.create_stack(StackName="t-processed", TemplateBody=SAM, Capabilities=capabilities)
    assert finished(cfn, "t-processed")["StackStatus"] == "CREATE_COMPLETE", events(
        cfn, "t-processed"
    )
    original = cfn.get_template(StackName="t-processed")
    assert original["TemplateBody"] == SAM
    assert original["StagesAvailable"] == ["Original", "Processed"]
    processed = cfn.get_template(StackName="t-processed", TemplateStage="Processed")
    body = processed["TemplateBody"]  # JSON, which boto3 decodes as it does on AWS
    assert isinstance(body, dict) and "Transform" not in body
    types = {r["Type"] for r in body["Resources"].values()}
    assert types == {"AWS::StepFunctions::StateMachine", "AWS::IAM::Role"}
    tags = body["Resources"]["Flow"]["Properties"]["Tags"]
    assert {"Key": "answer", "Value": {"Ref": "Answer"}} in tags  # intrinsics kept

    cfn.create_stack(StackName="t-unprocessed", TemplateBody=PLAIN)
    finished(cfn, "t-unprocessed")
    same = cfn.get_template(StackName="t-unprocessed", TemplateStage="Processed")
    assert same["TemplateBody"] == PLAIN

    made = cfn.create_change_set(
        StackName="t-processed",
        ChangeSetName="more",
        TemplateBody=SAM.replace("Result: answer", "Result: other"),
        Capabilities=capabilities,
    )
    pending = cfn.get_template(ChangeSetName=made["Id"], TemplateStage="Processed")
    definition = pending["TemplateBody"]["Resources"]["Flow"]["Properties"]["DefinitionString"]
    assert "other" in str(definition)
