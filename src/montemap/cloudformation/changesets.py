"""Change sets: what ``aws cloudformation deploy`` creates, reviews and executes.

A change set is computed at once (its status is ``CREATE_COMPLETE`` when
CreateChangeSet answers). Bad parameters (unknown, missing, or against their
constraints) refuse the request with a ``ValidationError``, as on AWS. A
template whose dependencies are wrong gives a ``FAILED`` change set with the
reason, and that reason is also recorded as a stack event; one with nothing to change gives the
"didn't contain changes" reason the AWS CLI reports as "No changes to deploy".
"""

from __future__ import annotations

import time
import uuid

from montemap.cloudformation import diff, operations
from montemap.cloudformation.actions import (
    NO_CHANGES,
    Actions,
    Params,
    handler,
    public,
)
from montemap.cloudformation.errors import TemplateError, change_set_not_found, validation
from montemap.cloudformation.store import Doc
from montemap.cloudformation.submission import check_stack_name, failure_choice
from montemap.errors import ApiError


def _find(actions: Actions, params: Params) -> Doc:
    name = str(params.get("ChangeSetName") or "")
    stack_id = None
    if params.get("StackName"):
        stack = actions.store.stack(str(params["StackName"]), include_deleted=True)
        stack_id = stack["StackId"] if stack else None
    found = actions.store.change_set(name, stack_id)
    if found is None:
        raise change_set_not_found(name)
    return found


def _request(params: Params) -> Params:
    """What executing the change set needs of its request."""
    return {
        "Parameters": params.get("Parameters") or [],
        "OnStackFailure": params.get("OnStackFailure"),
    }


@handler("CreateChangeSet")
async def create_change_set(actions: Actions, params: Params) -> Params:
    change_type = str(params.get("ChangeSetType") or "UPDATE")
    name = str(params.get("StackName"))
    existing = actions.store.stack(name)
    if params.get("UsePreviousTemplate"):
        if change_type == "CREATE" or existing is None:
            raise validation("UsePreviousTemplate can only be used with an existing stack")
        text = str(existing.get("_Template", ""))
    else:
        text = await actions.template_text(params)
    if change_type == "CREATE":
        if existing is not None and existing["StackStatus"] != "REVIEW_IN_PROGRESS":
            raise validation(
                f"Stack [{name}] already exists and cannot be created again with the changeSet"
            )
        # a bad name or bad parameters are the request's ValidationError, as on AWS
        check_stack_name(name)
        actions.check_parameters(text, params, change_set=True)
        created = existing is None
        stack = existing or actions.new_stack(name, params, "REVIEW_IN_PROGRESS")
    else:
        if existing is None:
            raise validation(f"Stack [{name}] does not exist")
        stack = existing
        created = False
        actions.check_idle(stack)
        actions.check_parameters(text, params, stack, change_set=True)
    change_set: Doc = {
        "ChangeSetName": str(params.get("ChangeSetName")),
        "ChangeSetId": f"{stack['StackId'].replace(':stack/', ':changeSet/', 1).rsplit('/', 2)[0]}"
        f"/{params.get('ChangeSetName')}/{uuid.uuid4()}",
        "StackId": stack["StackId"],
        "StackName": stack["StackName"],
        "CreationTime": time.time(),
        "ExecutionStatus": "AVAILABLE",
        "Status": "CREATE_COMPLETE",
        "Capabilities": list(params.get("Capabilities") or []),
        "Tags": list(params.get("Tags") or []),
        "NotificationARNs": [],
        "Changes": [],
        "_Type": change_type,
        "_Template": text,
        "_Request": _request(params),
    }
    if params.get("Description"):
        change_set["Description"] = str(params["Description"])
    try:
        plan = actions.plan(stack, text, params)
        try:
            actions.check_expanded(plan, params)
        except ApiError:
            if created:  # refused: the stack this request made is not left behind
                actions.engine.set_status(stack, "DELETE_COMPLETE")
            raise
        change_set["Parameters"] = [
            {"ParameterKey": p.key, "ParameterValue": "****" if p.no_echo else p.value}
            for p in plan.parameters.values()
        ]
        old = None if change_type == "CREATE" else stack
        change_set["Changes"] = diff.changes(actions.engine, old, plan)
        same = (
            old is not None
            and text == old.get("_Template")
            and plan.given() == (old.get("_Parameters") or {})
        )
        if not change_set["Changes"] and (same or old is None):
            _failed(change_set, NO_CHANGES)
    except TemplateError as exc:
        _failed(change_set, str(exc))
        actions.engine.event(
            stack,
            stack["StackName"],
            "AWS::CloudFormation::Stack",
            "CREATE_FAILED" if change_type == "CREATE" else "UPDATE_FAILED",
            reason=str(exc),
        )
    actions.store.put_change_set(change_set)
    if stack["StackStatus"] == "REVIEW_IN_PROGRESS" and change_set["Status"] == "FAILED":
        actions.store.put_stack(stack)
    return {"Id": change_set["ChangeSetId"], "StackId": stack["StackId"]}


def _failed(change_set: Doc, reason: str) -> None:
    change_set["Status"] = "FAILED"
    change_set["ExecutionStatus"] = "UNAVAILABLE"
    change_set["StatusReason"] = reason


@handler("DescribeChangeSet")
async def describe_change_set(actions: Actions, params: Params) -> Params:
    return public(_find(actions, params))


@handler("ListChangeSets")
async def list_change_sets(actions: Actions, params: Params) -> Params:
    stack = actions.stack(params.get("StackName"))
    keys = (
        "StackId",
        "StackName",
        "ChangeSetId",
        "ChangeSetName",
        "ExecutionStatus",
        "Status",
        "StatusReason",
        "CreationTime",
        "Description",
    )
    summaries = [
        {k: c[k] for k in keys if k in c} for c in actions.store.change_sets(stack["StackId"])
    ]
    return {"Summaries": summaries}


@handler("DeleteChangeSet")
async def delete_change_set(actions: Actions, params: Params) -> Params:
    change_set = _find(actions, params)
    actions.store.drop_change_set(change_set["ChangeSetId"])
    return {}


@handler("ExecuteChangeSet")
async def execute_change_set(actions: Actions, params: Params) -> Params:
    change_set = _find(actions, params)
    if change_set["ExecutionStatus"] != "AVAILABLE":
        raise validation(
            f"ChangeSet [{change_set['ChangeSetId']}] cannot be executed in its current status of "
            f"[{change_set['Status']}]"
        )
    stack = actions.stack(change_set["StackId"])
    if actions.engine.busy(stack["StackId"]):
        raise validation(f"Stack {stack['StackName']} is in {stack['StackStatus']} state")
    request = {**change_set["_Request"], "DisableRollback": params.get("DisableRollback")}
    chosen = failure_choice(request.get("OnStackFailure"), params.get("DisableRollback"))
    plan = actions.plan(stack, change_set["_Template"], request)
    if chosen["DisableRollback"]:
        stack["DisableRollback"] = True
    if change_set["_Type"] == "CREATE" and "_OnFailure" in chosen:
        stack.update(chosen)
    stack["ChangeSetId"] = change_set["ChangeSetId"]
    for other in actions.store.change_sets(stack["StackId"]):
        actions.store.drop_change_set(other["ChangeSetId"])
    if change_set["_Type"] == "CREATE":
        await actions.run(stack, operations.create(actions.engine, stack, plan))
    else:
        stack["LastUpdatedTime"] = time.time()
        await actions.run(stack, operations.update(actions.engine, stack, plan))
    return {}
