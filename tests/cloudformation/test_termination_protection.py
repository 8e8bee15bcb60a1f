"""Termination protection: set at creation or by UpdateTerminationProtection, shown by
DescribeStacks, and a protected stack (or a stack nested in one) refuses deletion."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished

TEMPLATE = "Resources:\n  Queue:\n    Type: AWS::StepFunctions::Activity\n"
CHILD = "Resources:\n  Inner:\n    Type: AWS::StepFunctions::Activity\n"
PARENT = (
    "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n"
    "    Properties: {TemplateURL: 's3://protection-templates/child.yaml'}\n"
)


def _protected(cfn: Any, name: str) -> bool:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return bool(stack["EnableTerminationProtection"])


def test_a_protected_stack_refuses_deletion_until_protection_is_lifted(
    cfn_server: MontemapServer,
) -> None:
    cfn, name = client(cfn_server), "t-protected"
    cfn.create_stack(StackName=name, TemplateBody=TEMPLATE, EnableTerminationProtection=True)
    stack = finished(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, name)
    assert _protected(cfn, name)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        cfn.delete_stack(StackName=name)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        f"Stack [{name}] cannot be deleted while TerminationProtection is enabled"
    )
    assert finished(cfn, name)["StackStatus"] == "CREATE_COMPLETE"
    answer = cfn.update_termination_protection(StackName=name, EnableTerminationProtection=False)
    assert answer["StackId"] == stack["StackId"]
    assert not _protected(cfn, name)
    cfn.delete_stack(StackName=name)
    assert finished(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_protection_set_later_covers_the_nested_stacks(cfn_server: MontemapServer) -> None:
    cfn, name = client(cfn_server), "t-protected-parent"
    s3 = cfn_server.client("s3")
    s3.create_bucket(Bucket="protection-templates")
    s3.put_object(Bucket="protection-templates", Key="child.yaml", Body=CHILD.encode())
    cfn.create_stack(StackName=name, TemplateBody=PARENT)
    stack = finished(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cfn, name)
    assert not _protected(cfn, name)
    cfn.update_termination_protection(StackName=name, EnableTerminationProtection=True)
    assert _protected(cfn, name)
    child = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Child")
    child_id = child["StackResourceDetail"]["PhysicalResourceId"]
    assert _protected(cfn, child_id)
    for target in (name, child_id):
        with pytest.raises(botocore.exceptions.ClientError, match="TerminationProtection"):
            cfn.delete_stack(StackName=target)
    # a nested stack's protection is its root's: it cannot be changed on the child
    with pytest.raises(botocore.exceptions.ClientError, match="root stack") as refused:
        cfn.update_termination_protection(StackName=child_id, EnableTerminationProtection=False)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    cfn.update_termination_protection(StackName=name, EnableTerminationProtection=False)
    cfn.delete_stack(StackName=name)
    assert finished(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_protection_of_a_missing_stack_is_refused(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    with pytest.raises(botocore.exceptions.ClientError, match="does not exist"):
        cfn.update_termination_protection(StackName="t-nowhere", EnableTerminationProtection=True)
