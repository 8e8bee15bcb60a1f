"""The CloudFormation operations montemap answers, on top of :class:`StackEngine`.

Handlers take the request's parameters (as botocore's model shapes them) and
return the result structure; refusals are :class:`ApiError` (``ValidationError``...).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from montemap.cloudformation import diff, operations, parameters, structure
from montemap.cloudformation.engine import StackEngine
from montemap.cloudformation.errors import (
    TemplateError,
    already_exists,
    change_set_not_found,
    stack_missing,
    validation,
)
from montemap.cloudformation.plan import Plan, parse, prepare, pseudo_parameters
from montemap.cloudformation.store import Doc
from montemap.cloudformation.submission import (
    check_capabilities,
    check_resources,
    check_stack_name,
    failure_choice,
    required_capabilities,
)
from montemap.cloudformation.template import transforms as template_transforms
from montemap.errors import MontemapError
from montemap.storage.base import ObjectStoreError

Params = dict[str, Any]
Handler = Callable[["Actions", Params], Awaitable[Params]]
#: How long ExecuteChangeSet, CreateStack... wait for the operation before answering, so
#: that the AWS CLI's waiters (30 s between polls) usually find it finished.
ANSWER_WAIT = 20.0
#: The largest TemplateBody CloudFormation takes inline (a template in S3 may be 1 MB).
MAX_BODY_BYTES = 51_200
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to "
    "create a change set."
)
#: Statuses in which a stack can be updated. As on AWS, a stack whose creation rolled back
#: (ROLLBACK_COMPLETE, ROLLBACK_FAILED) or whose deletion failed can only be deleted. One
#: whose update rollback failed (on AWS: ContinueUpdateRollback first, not answered here;
#: here also what a server stopped mid-update leaves) may be updated.
_DONE_STATUSES = (
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "CREATE_FAILED",
    "UPDATE_FAILED",
    "REVIEW_IN_PROGRESS",
)

HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[name] = function
        return function

    return register


def public(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _given(params: Params) -> tuple[dict[str, str], set[str]]:
    """Parameters given as values, and the keys marked UsePreviousValue."""
    values: dict[str, str] = {}
    previous: set[str] = set()
    for item in params.get("Parameters") or []:
        key = str(item.get("ParameterKey"))
        if item.get("UsePreviousValue"):
            if item.get("ParameterValue"):
                raise validation(
                    f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as "
                    "true and non empty value for a parameter"
                )
            previous.add(key)
        else:
            values[key] = str(item.get("ParameterValue", ""))
    return values, previous


class Actions:
    """The operations, bound to one engine."""

    def __init__(self, engine: StackEngine) -> None:
        self.engine = engine
        self.store = engine.store

    async def call(self, name: str, params: Params) -> Params:
        function = HANDLERS.get(name)
        if function is None:
            raise validation(f"Operation {name} is not supported by montemap's CloudFormation")
        try:
            return await function(self, params)
        except TemplateError as exc:
            raise validation(str(exc))

    # ------------------------------------------------------------------ helpers

    def stack(self, name: str | None) -> Doc:
        if not name:
            raise validation("StackName is required")
        found = self.store.stack(name, include_deleted=str(name).startswith("arn:"))
        if found is None:
            raise stack_missing(name)
        return found

    def new_stack_id(self, name: str) -> str:
        services = self.engine.services
        return f"arn:aws:cloudformation:{services.region}:{services.account}:stack/{name}/{uuid.uuid4()}"

    def new_stack(self, name: str, params: Params, status: str, stack_id: str | None = None) -> Doc:
        check_stack_name(name)
        if self.store.stack(name) is not None:
            raise already_exists(f"Stack [{name}] already exists")
        stack_id = stack_id or self.new_stack_id(name)
        stack: Doc = {
            "StackId": stack_id,
            "StackName": name,
            "CreationTime": time.time(),
            "StackStatus": status,
            "NotificationARNs": [],
            "Capabilities": list(params.get("Capabilities") or []),
            "Tags": list(params.get("Tags") or []),
            "Outputs": [],
            "Parameters": [],
            "EnableTerminationProtection": bool(params.get("EnableTerminationProtection")),
            "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
        }
        stack.update(
            failure_choice(
                params.get("OnFailure") or params.get("OnStackFailure"),
                params.get("DisableRollback"),
            )
        )
        self.store.put_stack(stack)
        return stack

    async def template_text(self, params: Params) -> str:
        body = params.get("TemplateBody")
        if body:
            if len(str(body).encode("utf-8")) > MAX_BODY_BYTES:  # larger ones go by TemplateURL
                raise validation(
                    "1 validation error detected: Value at 'templateBody' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {MAX_BODY_BYTES}"
                )
            return str(body)
        url = params.get("TemplateURL")
        if not url:
            raise validation("Either Template URL or Template Body must be specified.")
        bucket, key = _s3_location(str(url))
        try:
            data = await asyncio.to_thread(self.engine.services.objects.get, bucket, key)
        except ObjectStoreError as exc:
            raise validation(f"TemplateURL {url} could not be read: {exc}")
        return data.decode("utf-8")

    def plan(self, stack: Doc, text: str, params: Params) -> Plan:
        services = self.engine.services
        given, previous_keys = _given(params)
        stored = stack.get("_Parameters") or {}
        previous = {k: v for k, v in stored.items() if k in previous_keys}
        pseudo = pseudo_parameters(
            stack["StackName"], stack["StackId"], services.region, services.account
        )
        return prepare(text, given, pseudo=pseudo, previous=previous or None)

    def check_parameters(
        self, text: str, params: Params, stack: Doc | None = None, *, change_set: bool = False
    ) -> None:
        """Refuse what CloudFormation refuses at once, before any stack or change set exists.

        Unknown, missing, mistyped or constraint-violating parameter values
        (``AllowedValues``, ``AllowedPattern``, ``MinLength``... of the given values and
        the defaults alike) are a ``ValidationError`` of the request itself, and so, in a
        template without a ``Transform`` (whose resources are known only once it is
        expanded), are resource types AWS does not have, references to nothing and
        dependency cycles. Capabilities the template needs and the request does not
        acknowledge are ``InsufficientCapabilitiesException``.
        """
        parsed = parse(text)
        declared = parsed.get("Parameters") or {}
        given, previous_keys = _given(params)
        stored = (stack or {}).get("_Parameters") or {}
        if previous_keys and stack is None and change_set:
            raise validation(
                "Cannot specify UsePreviousValue on Parameters when ChangeSetType is CREATE"
            )
        if previous_keys - set(stored):
            raise validation(
                "Cannot specify usePreviousValue as true for a parameter key not in the previous "
                "template"
            )
        previous = {k: v for k, v in stored.items() if k in previous_keys}
        if not parsed.get("Transform"):
            structure.check(parsed)
        parameters.resolve(declared, given, previous or None)
        if not parsed.get("Transform"):
            check_resources(parsed.get("Resources") or {}, set(declared), parsed.get("Outputs"))
        needed, _ = required_capabilities(parsed, direct=not change_set)
        check_capabilities(needed, params)

    def check_expanded(self, plan: Plan, params: Params) -> None:
        """What only the plan shows: a reference to a resource whose condition is false with
        these parameters (TemplateError), the IAM capabilities of a template whose
        ``Transform`` made its resources (ApiError)."""
        structure.check_conditional_references(plan)
        if not template_transforms(parse(plan.text)):
            return
        needed, _ = required_capabilities({"Resources": plan.resources}, direct=False)
        check_capabilities(needed, params)

    def stored_plan(self, stack: Doc) -> Plan | None:
        if not stack.get("_Template"):
            return None
        try:
            return self.plan(
                stack,
                stack["_Template"],
                {
                    "Parameters": [
                        {"ParameterKey": k, "ParameterValue": v}
                        for k, v in (stack.get("_Parameters") or {}).items()
                    ]
                },
            )
        except MontemapError:
            return None

    async def run(self, stack: Doc, work: Any) -> None:
        """Start an operation and give it a little time to finish before answering."""
        task = self.engine.start(stack["StackId"], work)
        try:
            await asyncio.wait_for(asyncio.shield(task), ANSWER_WAIT)
        except TimeoutError:
            pass

    def check_idle(self, stack: Doc) -> None:
        if self.engine.busy(stack["StackId"]) or stack["StackStatus"] not in _DONE_STATUSES:
            raise validation(
                f"Stack:{stack['StackId']} is in {stack['StackStatus']} state and can not be updated."
            )

    def protected(self, stack: Doc) -> bool:
        """Whether termination protection covers the stack: a nested stack's is its root's."""
        root = self.store.stack(stack["RootId"]) if stack.get("RootId") else None
        return bool((root or stack).get("EnableTerminationProtection"))

    def check_exports_unused(self, stack: Doc) -> None:
        mine = {n for n, (_, owner) in self.store.exports().items() if owner == stack["StackId"]}
        for name in sorted(mine):
            users = sorted(
                other["StackName"]
                for other in self.store.stacks()
                if other["StackId"] != stack["StackId"] and name in (other.get("_Imports") or [])
            )
            if users:
                raise validation(
                    f"Export {name} cannot be deleted as it is in use by {operations.named(users)}"
                )


#: A virtual-hosted S3 address: ``bucket.s3.amazonaws.com``, ``bucket.s3.<region>...``,
#: ``bucket.s3-<region>...`` (path-style ``s3.amazonaws.com/bucket/key`` is the rest).
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$")


def _s3_location(url: str) -> tuple[str, str]:
    """Bucket and key of an S3 URL (path-style, virtual-hosted, or this server's own)."""
    if url.startswith("s3://"):
        bucket, _, key = url[5:].partition("/")
        return bucket, key
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = unquote(parts.path.lstrip("/"))
    virtual = _VIRTUAL_HOST.match(host)
    if virtual is not None:
        if not path:
            raise validation(f"TemplateURL must name an S3 object: {url}")
        return virtual.group("bucket"), path
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise validation(f"TemplateURL must name an S3 object: {url}")
    return bucket, key


# ---------------------------------------------------------------------------- stacks


@handler("CreateStack")
async def create_stack(actions: Actions, params: Params) -> Params:
    text = await actions.template_text(params)
    # a bad name, a template that does not parse, or bad parameters: refused before a stack exists
    check_stack_name(str(params.get("StackName") or ""))
    failure_choice(params.get("OnFailure"), params.get("DisableRollback"))
    actions.check_parameters(text, params)
    name = str(params.get("StackName"))
    if actions.store.stack(name) is not None:
        raise already_exists(f"Stack [{name}] already exists")
    # planned before the stack exists, so that what a Transform adds (IAM roles) is
    # checked against the capabilities first, as AWS does
    probe: Doc = {"StackName": name, "StackId": actions.new_stack_id(name)}
    plan: Plan | None = None
    failure = ""
    try:
        plan = actions.plan(probe, text, params)
    except TemplateError as exc:
        failure = str(exc)
    if plan is not None:
        actions.check_expanded(plan, params)
    stack = actions.new_stack(name, params, "CREATE_IN_PROGRESS", stack_id=probe["StackId"])
    if plan is None:
        await actions.run(stack, operations.fail_plan(actions.engine, stack, failure))
        return {"StackId": stack["StackId"]}
    await actions.run(stack, operations.create(actions.engine, stack, plan))
    return {"StackId": stack["StackId"]}


@handler("UpdateStack")
async def update_stack(actions: Actions, params: Params) -> Params:
    stack = actions.stack(params.get("StackName"))
    actions.check_idle(stack)
    text = (
        stack.get("_Template", "")
        if params.get("UsePreviousTemplate")
        else await actions.template_text(params)
    )
    actions.check_parameters(text, params, stack)
    plan = actions.plan(stack, text, params)
    actions.check_expanded(plan, params)
    if not diff.changes(actions.engine, stack, plan) and text == stack.get("_Template"):
        raise validation("No updates are to be performed.")
    await actions.run(stack, operations.update(actions.engine, stack, plan))
    return {"StackId": stack["StackId"]}


@handler("DeleteStack")
async def delete_stack(actions: Actions, params: Params) -> Params:
    stack = actions.store.stack(str(params.get("StackName")))
    if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
        return {}
    if actions.engine.busy(stack["StackId"]):
        raise validation(f"Stack {stack['StackName']} is in {stack['StackStatus']} state")
    if actions.protected(stack):
        raise validation(
            f"Stack [{params.get('StackName')}] cannot be deleted while TerminationProtection "
            "is enabled"
        )
    actions.check_exports_unused(stack)
    if stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        actions.store.drop_change_sets(stack["StackId"])
        actions.engine.set_status(stack, "DELETE_COMPLETE")
        return {}
    plan = actions.stored_plan(stack)
    await actions.run(stack, operations.delete(actions.engine, stack, plan))
    return {}


@handler("DescribeStacks")
async def describe_stacks(actions: Actions, params: Params) -> Params:
    name = params.get("StackName")
    stacks = [actions.stack(name)] if name else actions.store.stacks()
    shown = [public(s) | {"EnableTerminationProtection": actions.protected(s)} for s in stacks]
    return {"Stacks": shown}


@handler("UpdateTerminationProtection")
async def update_termination_protection(actions: Actions, params: Params) -> Params:
    stack = actions.stack(params.get("StackName"))
    if stack.get("RootId"):
        raise validation(
            "Termination protection of a nested stack is set on its root stack "
            f"({stack['RootId']}) and cannot be changed directly on the nested stack"
        )
    if stack["StackStatus"].startswith("DELETE_") or actions.engine.busy(stack["StackId"]):
        # (AWS also takes it during an operation; here the operation's own copy of the
        # stack would overwrite it when it ends)
        raise validation(f"Stack {stack['StackName']} is in {stack['StackStatus']} state")
    stack["EnableTerminationProtection"] = bool(params.get("EnableTerminationProtection"))
    actions.store.put_stack(stack)
    return {"StackId": stack["StackId"]}


@handler("ListStacks")
async def list_stacks(actions: Actions, params: Params) -> Params:
    wanted = set(params.get("StackStatusFilter") or [])
    summaries = []
    for stack in actions.store.stacks(include_deleted=True):
        if wanted and stack["StackStatus"] not in wanted:
            continue
        summary: dict[str, Any] = {
            k: stack[k]
            for k in (
                "StackId",
                "StackName",
                "CreationTime",
                "StackStatus",
                "StackStatusReason",
                "DeletionTime",
                "LastUpdatedTime",
                "ParentId",
                "RootId",
            )
            if k in stack
        }
        if stack.get("Description"):
            summary["TemplateDescription"] = stack["Description"]
        summaries.append(summary)
    return {"StackSummaries": summaries}


@handler("DescribeStackEvents")
async def describe_stack_events(actions: Actions, params: Params) -> Params:
    stack = actions.stack(params.get("StackName"))
    return {"StackEvents": actions.store.events(stack["StackId"])}


def _resources(actions: Actions, stack: Doc) -> list[Doc]:
    return [public(r) for r in actions.store.resources(stack["StackId"])]


@handler("DescribeStackResources")
async def describe_stack_resources(actions: Actions, params: Params) -> Params:
    stack = actions.stack(params.get("StackName"))
    found = _resources(actions, stack)
    logical = params.get("LogicalResourceId")
    if logical:
        found = [r for r in found if r["LogicalResourceId"] == logical]
    return {"StackResources": found}


@handler("DescribeStackResource")
async def describe_stack_resource(actions: Actions, params: Params) -> Params:
    stack = actions.stack(params.get("StackName"))
    logical = params.get("LogicalResourceId")
    for resource in _resources(actions, stack):
        if resource["LogicalResourceId"] == logical:
            detail = dict(resource)
            detail.setdefault("LastUpdatedTimestamp", detail.get("Timestamp"))
            detail.pop("Timestamp", None)
            return {"StackResourceDetail": detail}
    raise validation(f"Resource {logical} does not exist for stack {stack['StackName']}")


@handler("ListStackResources")
async def list_stack_resources(actions: Actions, params: Params) -> Params:
    stack = actions.stack(params.get("StackName"))
    summaries = []
    for resource in _resources(actions, stack):
        summary = {
            k: v for k, v in resource.items() if k not in ("StackName", "StackId", "Timestamp")
        }
        summaries.append(summary)
    return {"StackResourceSummaries": summaries}


@handler("ListExports")
async def list_exports(actions: Actions, params: Params) -> Params:
    exports = [
        {"ExportingStackId": owner, "Name": name, "Value": value}
        for name, (value, owner) in actions.store.exports().items()
    ]
    return {"Exports": exports}


@handler("ListImports")
async def list_imports(actions: Actions, params: Params) -> Params:
    name = str(params.get("ExportName") or "")
    importers = [
        stack["StackName"]
        for stack in actions.store.stacks()
        if name in (stack.get("_Imports") or [])
    ]
    if not importers:
        raise validation(f"Export '{name}' is not imported by any stack.")
    return {"Imports": importers}


@handler("GetTemplate")
async def get_template(actions: Actions, params: Params) -> Params:
    change_set = params.get("ChangeSetName")
    stack = actions.stack(params.get("StackName")) if params.get("StackName") else None
    if change_set:
        found = actions.store.change_set(str(change_set), stack["StackId"] if stack else None)
        if found is None:
            raise change_set_not_found(str(change_set))
        stack = actions.stack(found["StackId"]) if stack is None else stack
        text, request = str(found["_Template"]), found.get("_Request") or {}
    else:
        stack = actions.stack(params.get("StackName"))
        text = str(stack.get("_Template", ""))
        given = (stack.get("_Parameters") or {}).items()
        request = {"Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in given]}
    if params.get("TemplateStage") == "Processed":
        text = _processed(actions, stack, text, request)
    return {"TemplateBody": text, "StagesAvailable": ["Original", "Processed"]}


def _processed(actions: Actions, stack: Doc, text: str, request: Params) -> str:
    """The template once its transforms ran (JSON, intrinsics kept), as CloudFormation keeps
    it; a template without a transform is its own processed template."""
    if not text or not template_transforms(parse(text)):
        return text
    try:
        processed = actions.plan(stack, text, request).template
    except MontemapError:  # a template that never deployed: only its text is known
        return text
    return json.dumps(processed, indent=2)


@handler("ValidateTemplate")
async def validate_template(actions: Actions, params: Params) -> Params:
    template = parse(await actions.template_text(params))
    declared = template.get("Parameters") or {}
    # what CreateStack would refuse in the template itself (not in the values given)
    parameters.check_declarations(declared)
    if not template.get("Transform"):
        structure.check(template)
        check_resources(template["Resources"], set(declared), template.get("Outputs"))
    shown = []
    for key, spec in declared.items():
        item: Params = {"ParameterKey": key, "NoEcho": bool(spec.get("NoEcho", False))}
        if "Default" in spec:
            item["DefaultValue"] = parameters.default_text(spec["Default"])
        if spec.get("Description"):
            item["Description"] = str(spec["Description"])
        shown.append(item)
    result: Params = {"Parameters": shown}
    if template.get("Description"):
        result["Description"] = str(template["Description"])
    needed, reason = required_capabilities(template, direct=False)
    if needed:
        result["Capabilities"] = needed
        result["CapabilitiesReason"] = reason
    if template_transforms(template):
        result["DeclaredTransforms"] = template_transforms(template)
    return result


@handler("GetTemplateSummary")
async def get_template_summary(actions: Actions, params: Params) -> Params:
    if params.get("StackName") and not (params.get("TemplateBody") or params.get("TemplateURL")):
        text = str(actions.stack(params["StackName"]).get("_Template", ""))
    else:
        text = await actions.template_text(params)
    template = parse(text)
    shown = []
    for key, spec in (template.get("Parameters") or {}).items():
        item: Params = {
            "ParameterKey": key,
            "ParameterType": str(spec.get("Type", "String")),
            "NoEcho": bool(spec.get("NoEcho", False)),
        }
        if "Default" in spec:
            item["DefaultValue"] = parameters.default_text(spec["Default"])
        if spec.get("Description"):
            item["Description"] = str(spec["Description"])
        if isinstance(spec.get("AllowedValues"), list):
            allowed = [str(a) for a in spec["AllowedValues"]]
            item["ParameterConstraints"] = {"AllowedValues": allowed}
        shown.append(item)
    types = sorted({str(r["Type"]) for r in template["Resources"].values() if isinstance(r, dict)})
    result: Params = {"Parameters": shown, "ResourceTypes": types, "Version": "2010-09-09"}
    if template.get("Description"):
        result["Description"] = str(template["Description"])
    if "Metadata" in template:  # as AWS gives it: the section as a JSON string
        result["Metadata"] = json.dumps(template["Metadata"])
    needed, reason = required_capabilities(template, direct=True)
    if needed:
        result["Capabilities"] = needed
        if reason:
            result["CapabilitiesReason"] = reason
    declared = template_transforms(template)
    if declared:
        result["DeclaredTransforms"] = declared
    return result
