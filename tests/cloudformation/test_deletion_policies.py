"""DeletionPolicy and UpdateReplacePolicy as CloudFormation applies them: Retain on a
replacement, RetainExceptOnCreate."""

from __future__ import annotations

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import activity_names, client, events, finished

REPLACED = """
Parameters:
  Suffix: {Type: String}
Resources:
  Kept:
    Type: AWS::StepFunctions::Activity
    UpdateReplacePolicy: Retain
    Properties: {Name: !Sub "t-kept-${Suffix}"}
  Gone:
    Type: AWS::StepFunctions::Activity
    DeletionPolicy: Retain
    Properties: {Name: !Sub "t-gone-${Suffix}"}
"""


def test_update_replace_policy_retain_keeps_the_replaced_resource(
    cfn_server: MontemapServer,
) -> None:
    """UpdateReplacePolicy (not DeletionPolicy) decides what becomes of a replaced resource."""
    cfn = client(cfn_server)
    cfn.create_stack(
        StackName="t-replace",
        TemplateBody=REPLACED,
        Parameters=[{"ParameterKey": "Suffix", "ParameterValue": "one"}],
    )
    assert finished(cfn, "t-replace")["StackStatus"] == "CREATE_COMPLETE"
    cfn.update_stack(
        StackName="t-replace",
        TemplateBody=REPLACED,
        Parameters=[{"ParameterKey": "Suffix", "ParameterValue": "two"}],
    )
    assert finished(cfn, "t-replace")["StackStatus"] == "UPDATE_COMPLETE"
    names = activity_names(cfn_server)
    assert {"t-kept-one", "t-kept-two", "t-gone-two"} <= names
    assert "t-gone-one" not in names  # DeletionPolicy does not apply to a replacement
    skipped = [(n, s) for n, s, _ in events(cfn, "t-replace") if s == "DELETE_SKIPPED"]
    assert skipped == [("Kept", "DELETE_SKIPPED")]


EXCEPT_ON_CREATE = """
Parameters:
  Fail: {Type: String, Default: "no"}
Conditions:
  Failing: !Equals [!Ref Fail, "yes"]
Resources:
  Jobs:
    Type: AWS::StepFunctions::Activity
    DeletionPolicy: RetainExceptOnCreate
    Properties: {Name: !Sub "${AWS::StackName}-jobs"}
  Broken:
    Type: AWS::DynamoDB::Table
    Condition: Failing
    DependsOn: Jobs
"""


def test_retain_except_on_create(cfn_server: MontemapServer) -> None:
    """Deleted by the rollback of the creation that made it, kept by every other operation."""
    cfn = client(cfn_server)
    failing = [{"ParameterKey": "Fail", "ParameterValue": "yes"}]
    cfn.create_stack(StackName="t-except", TemplateBody=EXCEPT_ON_CREATE, Parameters=failing)
    assert finished(cfn, "t-except")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "t-except-jobs" not in activity_names(cfn_server)
    cfn.delete_stack(StackName="t-except")
    cfn.create_stack(StackName="t-kept", TemplateBody=EXCEPT_ON_CREATE)
    stack = finished(cfn, "t-kept")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName="t-kept")
    assert finished(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert "t-kept-jobs" in activity_names(cfn_server)
    assert ("Jobs", "DELETE_SKIPPED") in [(n, s) for n, s, _ in events(cfn, stack["StackId"])]
