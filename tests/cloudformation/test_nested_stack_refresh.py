"""A nested stack is re-read at every update of its parent, as on AWS: a change set
over the same parent template lists it (ChangeSource ``Automatic``), and executing it
applies a child template that changed at the same TemplateURL."""

from __future__ import annotations

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished

PARENT = (
    "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n"
    "    Properties: {TemplateURL: 's3://refresh-templates/child.yaml'}\n"
)
CHILD = "Resources:\n  First:\n    Type: AWS::StepFunctions::Activity\n"
GROWN = CHILD + "  Second:\n    Type: AWS::StepFunctions::Activity\n"


def test_a_changed_child_template_is_applied_by_the_next_deploy(
    cfn_server: MontemapServer,
) -> None:
    cfn, name = client(cfn_server), "t-nested-refresh"
    s3 = cfn_server.client("s3")
    s3.create_bucket(Bucket="refresh-templates")
    s3.put_object(Bucket="refresh-templates", Key="child.yaml", Body=CHILD.encode())
    cfn.create_stack(StackName=name, TemplateBody=PARENT)
    assert finished(cfn, name)["StackStatus"] == "CREATE_COMPLETE", events(cfn, name)
    child = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Child")
    child_id = child["StackResourceDetail"]["PhysicalResourceId"]
    s3.put_object(Bucket="refresh-templates", Key="child.yaml", Body=GROWN.encode())
    made = cfn.create_change_set(StackName=name, ChangeSetName="again", TemplateBody=PARENT)
    cfn.get_waiter("change_set_create_complete").wait(
        ChangeSetName=made["Id"], WaiterConfig={"Delay": 1}
    )
    described = cfn.describe_change_set(ChangeSetName=made["Id"])
    (change,) = [c["ResourceChange"] for c in described["Changes"]]
    assert (change["Action"], change["LogicalResourceId"]) == ("Modify", "Child")
    assert change["Replacement"] == "False"
    assert [d["ChangeSource"] for d in change["Details"]] == ["Automatic"]
    cfn.execute_change_set(ChangeSetName=made["Id"])
    assert finished(cfn, name)["StackStatus"] == "UPDATE_COMPLETE", events(cfn, name)
    listed = cfn.list_stack_resources(StackName=child_id)["StackResourceSummaries"]
    assert sorted(r["LogicalResourceId"] for r in listed) == ["First", "Second"]
    # nothing changed anywhere: the update still runs, and leaves the child as it is
    cfn.update_stack(StackName=name, TemplateBody=PARENT)
    assert finished(cfn, name)["StackStatus"] == "UPDATE_COMPLETE", events(cfn, name)
    assert finished(cfn, child_id)["StackStatus"] == "UPDATE_COMPLETE"
    cfn.delete_stack(StackName=name)
