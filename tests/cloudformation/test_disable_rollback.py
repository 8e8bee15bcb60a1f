"""A stack created with DisableRollback keeps what it made, lists what failed, and an
update of it creates what failed."""

from __future__ import annotations

import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished

MADE = "Resources:\n  Made:\n    Type: AWS::StepFunctions::Activity\n"
FAILING = {
    # a type montemap does not deploy
    "type": "  Broken:\n    Type: AWS::DynamoDB::Table\n    DependsOn: Made\n",
    # a property that does not resolve
    "select": (
        "  Broken:\n    Type: AWS::StepFunctions::Activity\n    DependsOn: Made\n"
        "    Properties: {Name: !Select [5, [a, b]]}\n"
    ),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_failed_resources_are_listed_when_rollback_is_disabled(
    cfn_server: MontemapServer, case: str
) -> None:
    cfn, name = client(cfn_server), f"t-kept-{case}"
    cfn.create_stack(StackName=name, TemplateBody=MADE + FAILING[case], DisableRollback=True)
    stack = finished(cfn, name)
    assert stack["StackStatus"] == "CREATE_FAILED", events(cfn, name)
    listed = {
        r["LogicalResourceId"]: r
        for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    }
    assert listed["Made"]["ResourceStatus"] == "CREATE_COMPLETE"
    assert listed["Broken"]["ResourceStatus"] == "CREATE_FAILED", listed
    assert listed["Broken"]["ResourceStatusReason"]
    assert not listed["Broken"].get("PhysicalResourceId")
    detail = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Broken")
    assert detail["StackResourceDetail"]["ResourceStatus"] == "CREATE_FAILED"
    # fixed, the stack is updated: what failed is created now, what was made stays
    made = listed["Made"]["PhysicalResourceId"]
    fixed = f"  Broken:\n    Type: AWS::StepFunctions::Activity\n    Properties: {{Name: {name}}}\n"
    cfn.update_stack(StackName=name, TemplateBody=MADE + fixed)
    assert finished(cfn, name)["StackStatus"] == "UPDATE_COMPLETE", events(cfn, name)
    listed = {
        r["LogicalResourceId"]: r
        for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    }
    assert listed["Made"]["PhysicalResourceId"] == made
    assert listed["Broken"]["ResourceStatus"] == "CREATE_COMPLETE"
    assert listed["Broken"]["PhysicalResourceId"].endswith(f":activity:{name}")
    cfn.delete_stack(StackName=name)
    gone = finished(cfn, stack["StackId"])
    assert gone["StackStatus"] == "DELETE_COMPLETE", events(cfn, stack["StackId"])
