"""DescribeChangeSet's Changes as CloudFormation reports them: only what changes, and how."""

from __future__ import annotations

from typing import Any

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, finished, outputs

TEMPLATE = """
Parameters:
  Suffix: {Type: String, Default: one}
  Label: {Type: String, Default: first}
  WithExtra: {Type: String, Default: "no", AllowedValues: ["yes", "no"]}
Conditions:
  Extra: !Equals [!Ref WithExtra, "yes"]
Resources:
  Store:
    Type: AWS::S3::Bucket
    Properties: {BucketName: !Sub "changes-${Suffix}"}
  Flow:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/any
      Definition:
        StartAt: Pass
        States:
          Pass: {Type: Pass, Result: !Sub "${Label} ${Store}", End: true}
  Untouched:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: changes-untouched}
  Optional:
    Type: AWS::StepFunctions::Activity
    Condition: Extra
    Properties: {Name: changes-optional}
Outputs:
  Label: {Value: !Ref Label}
"""


def _changes(cfn: Any, stack: str, name: str) -> tuple[str, dict[str, dict[str, Any]]]:
    found = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
    changes = {
        c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in found["Changes"]
    }
    return found["Status"], changes


def _parameters(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def test_change_set_lists_what_changes_with_replacement(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    cfn.create_change_set(
        StackName="changes", ChangeSetName="create", ChangeSetType="CREATE", TemplateBody=TEMPLATE
    )
    status, created = _changes(cfn, "changes", "create")
    # a resource whose condition is false is not added
    assert (status, sorted(created)) == ("CREATE_COMPLETE", ["Flow", "Store", "Untouched"])
    assert {c["Action"] for c in created.values()} == {"Add"}
    assert all("Replacement" not in c for c in created.values())
    cfn.execute_change_set(StackName="changes", ChangeSetName="create")
    assert finished(cfn, "changes")["StackStatus"] == "CREATE_COMPLETE"

    # a parameter that names the bucket: the bucket is replaced, the state machine (whose
    # definition names it) changes with it, the activity is not touched
    cfn.create_change_set(
        StackName="changes",
        ChangeSetName="rename",
        TemplateBody=TEMPLATE,
        Parameters=_parameters(Suffix="two"),
    )
    status, renamed = _changes(cfn, "changes", "rename")
    assert (status, sorted(renamed)) == ("CREATE_COMPLETE", ["Flow", "Store"])
    store, flow = renamed["Store"], renamed["Flow"]
    assert (store["Action"], store["Replacement"], store["PhysicalResourceId"]) == (
        "Modify",
        "True",
        "changes-one",
    )
    assert store["Scope"] == ["Properties"]
    assert store["Details"] == [
        {
            "Target": {
                "Attribute": "Properties",
                "Name": "BucketName",
                "RequiresRecreation": "Always",
            },
            "Evaluation": "Static",
            "ChangeSource": "ParameterReference",
            "CausingEntity": "Suffix",
        }
    ]
    assert (flow["Action"], flow["Replacement"]) == ("Modify", "False")
    assert [(d["Target"]["Name"], d["Evaluation"], d["ChangeSource"]) for d in flow["Details"]] == [
        ("Definition", "Dynamic", "ResourceReference")
    ]

    # a property that can change in place: Replacement False; a condition turning true: Add
    cfn.create_change_set(
        StackName="changes",
        ChangeSetName="relabel",
        TemplateBody=TEMPLATE,
        Parameters=_parameters(Label="second", WithExtra="yes"),
    )
    status, relabelled = _changes(cfn, "changes", "relabel")
    assert (status, sorted(relabelled)) == ("CREATE_COMPLETE", ["Flow", "Optional"])
    assert relabelled["Flow"]["Replacement"] == "False"
    assert relabelled["Flow"]["Details"][0]["Evaluation"] == "Static"
    assert relabelled["Optional"]["Action"] == "Add"

    # a resource removed from the template: Remove, with its physical id
    without = TEMPLATE.replace(
        "  Untouched:\n    Type: AWS::StepFunctions::Activity\n"
        "    Properties: {Name: changes-untouched}\n",
        "",
    )
    cfn.create_change_set(StackName="changes", ChangeSetName="remove", TemplateBody=without)
    status, removed = _changes(cfn, "changes", "remove")
    assert (status, sorted(removed)) == ("CREATE_COMPLETE", ["Untouched"])
    assert removed["Untouched"]["Action"] == "Remove"
    assert removed["Untouched"]["PhysicalResourceId"].endswith(":activity:changes-untouched")


def test_output_only_change_is_an_executable_change_set(cfn_server: MontemapServer) -> None:
    """As on AWS: no resource changes but new outputs is CREATE_COMPLETE with no Changes."""
    cfn = client(cfn_server)
    template = TEMPLATE.replace("changes-", "outputs-")
    cfn.create_stack(StackName="outputs", TemplateBody=template)
    assert finished(cfn, "outputs")["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_change_set(
        StackName="outputs",
        ChangeSetName="more",
        TemplateBody=template + "  More: {Value: more}\n",
    )
    status, changed = _changes(cfn, "outputs", "more")
    assert (status, changed) == ("CREATE_COMPLETE", {})
    cfn.execute_change_set(StackName="outputs", ChangeSetName="more")
    stack = finished(cfn, "outputs")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(stack) == {"Label": "first", "More": "more"}
    cfn.create_change_set(StackName="outputs", ChangeSetName="same", UsePreviousTemplate=True)
    found = cfn.describe_change_set(StackName="outputs", ChangeSetName="same")
    assert found["Status"] == "FAILED"
    assert found["StatusReason"].startswith("The submitted information didn't contain changes")
