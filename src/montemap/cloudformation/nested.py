"""Nested stacks: an ``AWS::CloudFormation::Stack`` resource runs a whole stack operation.

The child stack is named ``parent-Logical-RANDOM`` and carries ``ParentId``
and ``RootId``; its template is read from the object store at ``TemplateURL``
(``https://s3.amazonaws.com/b/k``, ``https://s3.<region>.amazonaws.com/b/k``,
``https://b.s3.amazonaws.com/k`` or this server's own ``/b/k``: the forms
``aws cloudformation package`` writes). ``Ref`` gives the child's stack id and
``Fn::GetAtt Child.Outputs.Name`` its outputs. A child that fails rolls back
and is deleted, and its parent fails with CloudFormation's
"Embedded stack ... was not successfully created" reason; the parent's
rollback and deletion update or delete the child.
"""

from __future__ import annotations

import json
from typing import Any

from montemap.cloudformation import operations
from montemap.cloudformation.actions import Actions
from montemap.cloudformation.errors import ResourceFailure
from montemap.cloudformation.plan import Plan, parse
from montemap.cloudformation.providers.base import Outcome, Request, required
from montemap.cloudformation.store import Doc
from montemap.errors import ApiError, MontemapError


def _parameters(request: Request) -> list[dict[str, str]]:
    given = request.properties.get("Parameters") or {}
    if not isinstance(given, dict):
        raise ResourceFailure("Properties validation failed: Parameters must be a mapping")
    out = []
    for key, value in given.items():
        text = ",".join(str(v) for v in value) if isinstance(value, list) else value
        if isinstance(text, dict):
            text = json.dumps(text)
        out.append({"ParameterKey": str(key), "ParameterValue": str(text)})
    return out


def _outcome(stack: Doc) -> Outcome:
    outputs = {f"Outputs.{o['OutputKey']}": o["OutputValue"] for o in stack.get("Outputs") or []}
    return Outcome(stack["StackId"], {"StackId": stack["StackId"], **outputs})


def _reason(actions: Actions, stack: Doc) -> str:
    """Why the child's operation failed: the reason its rollback (or failure) gave."""
    for event in reversed(actions.store.events(stack["StackId"])):
        status = str(event.get("ResourceStatus", ""))
        if event.get("LogicalResourceId") == stack["StackName"] and (
            status.endswith("ROLLBACK_IN_PROGRESS") or status.endswith("_FAILED")
        ):
            reason = str(event.get("ResourceStatusReason", ""))
            if reason:
                return reason.removesuffix(" Rollback requested by user.")
    return str(stack.get("StackStatusReason", ""))


class NestedStacks:
    """Creates, updates and deletes child stacks with the engine of their parent."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.engine = actions.engine

    async def _template(self, request: Request) -> str:
        url = str(required(request, "TemplateURL"))
        try:
            text = await self.actions.template_text({"TemplateURL": url})
            parse(text)
        except ApiError as exc:
            raise ResourceFailure(exc.message)
        except MontemapError as exc:
            raise ResourceFailure(f"TemplateURL {url}: {exc}")
        return text

    def _plan(self, child: Doc, text: str, request: Request) -> Plan:
        return self.actions.plan(child, text, {"Parameters": _parameters(request)})

    async def create(self, request: Request) -> Outcome:
        text = await self._template(request)
        parent = self.actions.store.stack(request.stack_id, include_deleted=True) or {}
        child = self.actions.new_stack(
            request.generated_name(limit=128),
            {"Tags": parent.get("Tags"), "DisableRollback": parent.get("DisableRollback")},
            "CREATE_IN_PROGRESS",
        )
        child["ParentId"] = request.stack_id
        child["RootId"] = parent.get("RootId") or request.stack_id
        self.actions.store.put_stack(child)
        try:
            plan = self._plan(child, text, request)
        except MontemapError as exc:
            await operations.fail_plan(self.engine, child, str(exc))
        else:
            await operations.create(self.engine, child, plan)
        if child["StackStatus"] == "CREATE_COMPLETE":
            return _outcome(child)
        reason = _reason(self.actions, child)
        if child["StackStatus"] == "ROLLBACK_COMPLETE":
            await operations.delete(self.engine, child, None)
        raise ResourceFailure(
            f"Embedded stack {child['StackId']} was not successfully created: {reason}"
        )

    async def update(self, request: Request) -> Outcome:
        child = self._child(request)
        text = await self._template(request)
        try:
            plan = self._plan(child, text, request)
        except MontemapError as exc:
            raise ResourceFailure(f"Embedded stack {child['StackId']}: {exc}")
        if text == child.get("_Template") and plan.given() == (child.get("_Parameters") or {}):
            return _outcome(child)
        await operations.update(self.engine, child, plan)
        if child["StackStatus"] != "UPDATE_COMPLETE":
            raise ResourceFailure(
                f"Embedded stack {child['StackId']} was not successfully updated. Currently in "
                f"{child['StackStatus']} with reason: {_reason(self.actions, child)}"
            )
        return _outcome(child)

    async def delete(self, request: Request) -> None:
        child = self.actions.store.stack(request.physical_id, include_deleted=True)
        if child is None or child["StackStatus"] == "DELETE_COMPLETE":
            return
        await operations.delete(self.engine, child, self.actions.stored_plan(child))
        if child["StackStatus"] != "DELETE_COMPLETE":
            raise ResourceFailure(
                f"Embedded stack {child['StackId']} was not successfully deleted: "
                f"{child.get('StackStatusReason', '')}"
            )

    def _child(self, request: Request) -> Doc:
        child: Any = self.actions.store.stack(request.physical_id, include_deleted=True)
        if child is None or child["StackStatus"] == "DELETE_COMPLETE":
            raise ResourceFailure(f"Embedded stack {request.physical_id} does not exist")
        result: Doc = child
        return result
