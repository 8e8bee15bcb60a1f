"""What a failed creation leaves, as CreateStack's OnFailure and CreateChangeSet's
OnStackFailure choose it: ROLLBACK (the default), DO_NOTHING (as DisableRollback) or
DELETE (rolled back, then the stack deleted)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from montemap.testing import MontemapServer
from tests.cloudformation.helpers import client, events, finished

FAILING = (
    "Resources:\n  Made:\n    Type: AWS::StepFunctions::Activity\n"
    "  Broken:\n    Type: AWS::DynamoDB::Table\n    DependsOn: Made\n"
)
#: A SAM template the transform refuses: the stack fails before any resource is made.
UNPLANNED = (
    "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
    "    Type: AWS::Serverless::Function\n    Properties: {Runtime: python3.12}\n"
)


def _statuses(cfn: Any, stack_id: str, name: str) -> list[str]:
    """The stack's own statuses, oldest first."""
    return [status for logical, status, _ in events(cfn, stack_id) if logical == name]


@pytest.mark.parametrize(
    ("choice", "status"), [("ROLLBACK", "ROLLBACK_COMPLETE"), ("DO_NOTHING", "CREATE_FAILED")]
)
def test_on_failure_rolls_back_or_keeps_the_stack(
    cfn_server: MontemapServer, choice: str, status: str
) -> None:
    cfn, name = client(cfn_server), f"t-onfail-{choice.lower().replace('_', '')}"
    cfn.create_stack(StackName=name, TemplateBody=FAILING, OnFailure=choice)
    stack = finished(cfn, name)
    assert stack["StackStatus"] == status, events(cfn, name)
    assert stack["DisableRollback"] is (choice == "DO_NOTHING")
    cfn.delete_stack(StackName=name)
    assert finished(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


@pytest.mark.parametrize("template", [FAILING, UNPLANNED], ids=["resource", "transform"])
def test_on_failure_delete_deletes_the_rolled_back_stack(
    cfn_server: MontemapServer, template: str
) -> None:
    cfn, name = client(cfn_server), f"t-onfail-delete-{len(template)}"
    made = cfn.create_stack(
        StackName=name,
        TemplateBody=template,
        OnFailure="DELETE",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack_id = made["StackId"]
    assert finished(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(cfn, stack_id)
    assert _statuses(cfn, stack_id, name)[-3:] == [
        "ROLLBACK_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_COMPLETE",
    ]
    with pytest.raises(botocore.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=name)


def test_change_set_on_stack_failure_delete(cfn_server: MontemapServer) -> None:
    cfn, name = client(cfn_server), "t-onfail-changeset"
    made = cfn.create_change_set(
        StackName=name,
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody=FAILING,
        OnStackFailure="DELETE",
    )
    cfn.get_waiter("change_set_create_complete").wait(
        ChangeSetName=made["Id"], WaiterConfig={"Delay": 1}
    )
    cfn.execute_change_set(ChangeSetName=made["Id"])
    assert finished(cfn, made["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_on_failure_with_disable_rollback_is_refused(cfn_server: MontemapServer) -> None:
    cfn = client(cfn_server)
    with pytest.raises(botocore.exceptions.ClientError, match="not both") as refused:
        cfn.create_stack(
            StackName="t-onfail-both",
            TemplateBody=FAILING,
            OnFailure="DELETE",
            DisableRollback=True,
        )
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="t-onfail-both")
    made = cfn.create_change_set(
        StackName="t-onfail-both",
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody=FAILING,
        OnStackFailure="DO_NOTHING",
    )
    cfn.get_waiter("change_set_create_complete").wait(
        ChangeSetName=made["Id"], WaiterConfig={"Delay": 1}
    )
    with pytest.raises(botocore.exceptions.ClientError, match="not both"):
        cfn.execute_change_set(ChangeSetName=made["Id"], DisableRollback=True)
