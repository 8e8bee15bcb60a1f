"""Stack operations: create, update, delete, and the rollback of a failed one.

Each operation runs as a background task (the stack shows ``*_IN_PROGRESS``
meanwhile, as on AWS) and writes a stack event for every step, with the
reason of every failure. One operation per stack at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from montemap.cloudformation.errors import NeedsReplacement, ResourceFailure, TemplateError
from montemap.cloudformation.intrinsics import Resolver
from montemap.cloudformation.plan import Plan
from montemap.cloudformation.providers import Outcome, Request, Services, provider_for
from montemap.cloudformation.providers.accepted import AcceptedProvider
from montemap.cloudformation.store import Doc, StackStore
from montemap.errors import MontemapError

log = logging.getLogger("montemap.cloudformation")
T = TypeVar("T")

STACK_TYPE = "AWS::CloudFormation::Stack"
#: Statuses of an interrupted operation, and what a restarted server records instead.
INTERRUPTED = {
    "CREATE_IN_PROGRESS": "ROLLBACK_FAILED",
    "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
    "UPDATE_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS": "DELETE_FAILED",
}


class State:
    """The resources of one stack as an operation goes: what Ref and GetAtt see."""

    def __init__(self, engine: StackEngine, stack: Doc, plan: Plan) -> None:
        self.engine = engine
        self.stack = stack
        self.plan = plan
        self.resources: dict[str, Doc] = {
            r["LogicalResourceId"]: r for r in engine.store.resources(stack["StackId"])
        }
        self.imports: set[str] = set()
        #: Resources an update replaced: (logical id, the old resource), deleted at cleanup.
        self.replaced: list[tuple[str, Doc]] = []
        self.resolver: Resolver = plan.resolver(self.ref, self.attr, self.import_value)

    def _live(self, name: str) -> Doc:
        resource = self.resources.get(name)
        if resource is None or not resource.get("PhysicalResourceId"):
            raise TemplateError(f"Template error: resource {name} is not created (yet)")
        return resource

    def ref(self, name: str) -> Any:
        return self._live(name)["PhysicalResourceId"]

    def attr(self, name: str, attribute: str) -> Any:
        attributes = self._live(name).get("_Attributes", {})
        if attribute in attributes:
            return attributes[attribute]
        if "*" in attributes:
            return attributes["*"]
        raise TemplateError(
            f"Template error: resource {name} does not support attribute type {attribute} "
            "in Fn::GetAtt"
        )

    def import_value(self, name: str) -> str:
        exports = self.engine.store.exports()
        if name not in exports:
            raise TemplateError(f"No export named {name} found.")
        self.imports.add(name)
        return exports[name][0]

    def active(self, name: str) -> bool:
        condition = self.plan.resources[name].get("Condition")
        return condition is None or self.resolver.condition(str(condition))


class StackEngine:
    """Runs stack operations against the providers; keeps everything in :class:`StackStore`."""

    def __init__(self, store: StackStore, services: Services) -> None:
        self.store = store
        self.services = services
        self._running: dict[str, asyncio.Task[None]] = {}

    def recover(self) -> None:
        """Mark operations a stopped server left in progress as failed."""
        for stack in self.store.stacks():
            failed = INTERRUPTED.get(stack["StackStatus"])
            if failed is not None:
                reason = "The server stopped during this operation; it did not finish"
                self.event(stack, stack["StackName"], STACK_TYPE, failed, reason=reason)
                self.set_status(stack, failed, reason)

    # ------------------------------------------------------------------ bookkeeping

    def busy(self, stack_id: str) -> bool:
        task = self._running.get(stack_id)
        return task is not None and not task.done()

    def start(self, stack_id: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._guarded(stack_id, work))
        self._running[stack_id] = task
        task.add_done_callback(lambda _: self._running.pop(stack_id, None))
        return task

    async def _guarded(self, stack_id: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:
            log.exception("stack operation failed unexpectedly")
            # never left *_IN_PROGRESS: the stack ends failed, its event saying why
            stack = self.store.stack(stack_id, include_deleted=True)
            failed = INTERRUPTED.get(stack["StackStatus"]) if stack else None
            if stack is not None and failed is not None:
                reason = (
                    f"montemap failed during this operation ({type(exc).__name__}: {exc}); "
                    "the server log has the details"
                )
                self.event(stack, stack["StackName"], STACK_TYPE, failed, reason=reason)
                self.set_status(stack, failed, reason)

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        for task in list(self._running.values()):
            with contextlib.suppress(BaseException):
                await task

    def set_status(self, stack: Doc, status: str, reason: str = "") -> None:
        stack["StackStatus"] = status
        if reason:
            stack["StackStatusReason"] = reason
        else:
            stack.pop("StackStatusReason", None)
        if status == "DELETE_COMPLETE":
            stack["DeletionTime"] = time.time()
        self.store.put_stack(stack)

    def event(
        self,
        stack: Doc,
        logical_id: str,
        resource_type: str,
        status: str,
        *,
        physical_id: str = "",
        reason: str = "",
    ) -> None:
        itself = resource_type == STACK_TYPE and logical_id == stack["StackName"]
        physical = physical_id or (stack["StackId"] if itself else "")
        self.store.add_event(
            stack, logical_id, resource_type, status, physical_id=physical, reason=reason
        )

    def stack_event(self, stack: Doc, status: str, reason: str = "") -> None:
        self.event(stack, stack["StackName"], STACK_TYPE, status, reason=reason)
        self.set_status(stack, status, reason)

    def _save(
        self,
        state: State,
        name: str,
        resource_type: str,
        status: str,
        outcome: Outcome | None,
        properties: Any,
        reason: str = "",
    ) -> None:
        resource: Doc = state.resources.get(name) or {
            "StackName": state.stack["StackName"],
            "StackId": state.stack["StackId"],
            "LogicalResourceId": name,
            "ResourceType": resource_type,
        }
        resource["ResourceType"] = resource_type
        resource["ResourceStatus"] = status
        resource["LastUpdatedTimestamp"] = time.time()
        resource["Timestamp"] = resource["LastUpdatedTimestamp"]
        if reason:
            resource["ResourceStatusReason"] = reason
        else:
            resource.pop("ResourceStatusReason", None)
        if outcome is not None:
            resource["PhysicalResourceId"] = outcome.physical_id
            resource["_Attributes"] = outcome.attributes
        resource["_Properties"] = properties
        policy = state.plan.resources.get(name, {}).get("DeletionPolicy")
        if policy:
            resource["_DeletionPolicy"] = policy
        state.resources[name] = resource
        self.store.put_resource(state.stack["StackId"], resource)
        self.event(
            state.stack,
            name,
            resource_type,
            status,
            physical_id=resource.get("PhysicalResourceId", ""),
            reason=reason,
        )

    def request(
        self, state: State, name: str, resource_type: str, properties: dict[str, Any]
    ) -> Request:
        old = state.resources.get(name) or {}
        return Request(
            services=self.services,
            stack_id=state.stack["StackId"],
            stack_name=state.stack["StackName"],
            logical_id=name,
            resource_type=resource_type,
            properties=properties,
            physical_id=old.get("PhysicalResourceId", ""),
            old_properties=old.get("_Properties") or {},
            attributes={
                **(old.get("_Attributes") or {}),
                "_DeletionPolicy": old.get("_DeletionPolicy"),
            },
        )

    # ------------------------------------------------------------------ one resource

    async def apply(self, state: State, name: str, *, update: bool) -> bool:
        """Create (or update) one resource; whether it now exists as the template says."""
        declared = state.plan.resources[name]
        resource_type = str(declared["Type"])
        kind = "UPDATE" if update else "CREATE"
        # what the resource was (the provider's old_properties), before the events below
        previous: Doc = dict(state.resources.get(name) or {})
        properties: Any = {}
        try:
            provider = provider_for(resource_type)
            if provider is None:
                raise ResourceFailure(
                    f"Unrecognized resource type: [{resource_type}] is not supported by montemap "
                    "(docs/bring-your-own.md lists the types it deploys)"
                )
            properties = state.resolver.resolve(declared.get("Properties") or {})
            if not isinstance(provider, AcceptedProvider):
                _refuse_dynamic_references(properties)
            # (a nested stack is updated anyway: its template may have changed where it is)
            unchanged = properties == state.resources[name].get("_Properties") if update else False
            if unchanged and resource_type != "AWS::CloudFormation::Stack":
                return True
            request = self.request(state, name, resource_type, properties)
            self._save(state, name, resource_type, f"{kind}_IN_PROGRESS", None, properties)
            outcome = await _acting(
                provider.update(request) if update else provider.create(request)
            )
            if update and _answers_its_id(resource_type) and _new_id(previous, outcome):
                # a custom resource that answered an Update with another PhysicalResourceId
                # was replaced: CloudFormation sends the old one a Delete at cleanup
                state.replaced.append((name, previous))
        except NeedsReplacement:
            request = self.request(state, name, resource_type, properties)
            request.physical_id, request.old_properties = "", {}
            assert provider is not None
            try:
                outcome = await _acting(provider.create(request))
            except MontemapError as exc:
                # the old resource stays; its record keeps the properties it was made with
                self._save(
                    state,
                    name,
                    resource_type,
                    "UPDATE_FAILED",
                    None,
                    previous.get("_Properties"),
                    str(exc),
                )
                return False
            state.replaced.append((name, previous))
        except MontemapError as exc:
            reason = str(exc)
            if name in state.resources:
                kept = previous.get("_Properties") if update else properties
                if update and _answers_its_id(resource_type):
                    # what the function may have half done: the rollback sends it an Update
                    # back to the previous properties, as CloudFormation does
                    kept = properties
                self._save(state, name, resource_type, f"{kind}_FAILED", None, kept, reason)
            else:
                # refused before it was begun (a type not deployed here, a property that
                # did not resolve): still listed, CREATE_FAILED, until a rollback forgets it
                self._save(state, name, resource_type, f"{kind}_FAILED", None, properties, reason)
            return False
        self._save(
            state,
            name,
            resource_type,
            f"{kind}_COMPLETE",
            outcome,
            properties,
            "; ".join(request.notes),
        )
        return True

    async def remove(self, state: State, name: str, *, made_now: bool = False) -> bool:
        """Delete one resource (or keep it, DeletionPolicy Retain); whether that went well.

        ``made_now``: the rollback of the operation that created it, which deletes a
        ``RetainExceptOnCreate`` resource (every other operation keeps it, as on AWS).
        """
        resource = state.resources[name]
        resource_type = resource["ResourceType"]
        policy = resource.get("_DeletionPolicy")
        if policy == "Retain" or (policy == "RetainExceptOnCreate" and not made_now):
            self.event(
                state.stack,
                name,
                resource_type,
                "DELETE_SKIPPED",
                physical_id=resource.get("PhysicalResourceId", ""),
            )
            self._forget(state, name)
            return True
        provider = provider_for(resource_type)
        created = (
            resource.get("PhysicalResourceId") and resource["ResourceStatus"] != "CREATE_FAILED"
        )
        if provider is None or not created:
            self._forget(state, name)
            return True
        self._save(
            state, name, resource_type, "DELETE_IN_PROGRESS", None, resource.get("_Properties")
        )
        request = self.request(state, name, resource_type, resource.get("_Properties") or {})
        try:
            await _acting(provider.delete(request))
        except MontemapError as exc:
            self._save(
                state,
                name,
                resource_type,
                "DELETE_FAILED",
                None,
                resource.get("_Properties"),
                str(exc),
            )
            return False
        if request.notes:
            self.event(
                state.stack,
                name,
                resource_type,
                "DELETE_SKIPPED",
                physical_id=request.physical_id,
                reason="; ".join(request.notes),
            )
        else:
            self.event(
                state.stack, name, resource_type, "DELETE_COMPLETE", physical_id=request.physical_id
            )
        self._forget(state, name)
        return True

    async def remove_replaced(
        self, state: State, name: str, old: Doc, *, retain: bool = False
    ) -> None:
        """Delete the resource an update replaced (failures are events, not stack failures).

        ``retain``: the template's ``UpdateReplacePolicy: Retain`` keeps it (DELETE_SKIPPED),
        as on AWS; ``DeletionPolicy`` does not apply to a replacement.
        """
        provider = provider_for(old["ResourceType"])
        live = state.resources.get(name) or {}
        if provider is None or old.get("PhysicalResourceId") == live.get("PhysicalResourceId"):
            return  # the replacement is the same resource (a version of an unchanged revision)
        if retain:
            self.event(
                state.stack,
                name,
                old["ResourceType"],
                "DELETE_SKIPPED",
                physical_id=old.get("PhysicalResourceId", ""),
            )
            return
        request = self.request(state, name, old["ResourceType"], old.get("_Properties") or {})
        request.physical_id = old.get("PhysicalResourceId", "")
        request.attributes = {
            **(old.get("_Attributes") or {}),
            "_DeletionPolicy": old.get("_DeletionPolicy"),
        }
        self.event(
            state.stack,
            name,
            old["ResourceType"],
            "DELETE_IN_PROGRESS",
            physical_id=request.physical_id,
        )
        try:
            await _acting(provider.delete(request))
        except MontemapError as exc:
            self.event(
                state.stack,
                name,
                old["ResourceType"],
                "DELETE_FAILED",
                physical_id=request.physical_id,
                reason=str(exc),
            )
            return
        status = "DELETE_SKIPPED" if request.notes else "DELETE_COMPLETE"
        self.event(
            state.stack,
            name,
            old["ResourceType"],
            status,
            physical_id=request.physical_id,
            reason="; ".join(request.notes),
        )

    def restore_replaced(self, state: State, name: str, old: Doc) -> Doc:
        """Put back the resource an update replaced; the replacement's record (to delete)."""
        new = dict(state.resources[name])
        old = dict(old)
        old["ResourceStatus"] = "UPDATE_COMPLETE"
        old["LastUpdatedTimestamp"] = old["Timestamp"] = time.time()
        old.pop("ResourceStatusReason", None)
        state.resources[name] = old
        self.store.put_resource(state.stack["StackId"], old)
        self.event(
            state.stack,
            name,
            old["ResourceType"],
            "UPDATE_COMPLETE",
            physical_id=old.get("PhysicalResourceId", ""),
        )
        return new

    def _forget(self, state: State, name: str) -> None:
        state.resources.pop(name, None)
        self.store.drop_resource(state.stack["StackId"], name)

    def deletion_order(self, state: State) -> list[str]:
        """Existing resources, dependents first (the reverse of the creation order)."""
        known = [n for n in reversed(state.plan.order) if n in state.resources]
        rest = [n for n in reversed(list(state.resources)) if n not in known]
        return rest + known


async def _acting(work: Awaitable[T]) -> T:
    """A provider's step. An unexpected error there (a bug, a property of a shape nobody
    checked) is the resource's failure with its reason, so the stack rolls back as it
    would for any failure, never left in progress."""
    try:
        return await work
    except MontemapError:
        raise
    except Exception as exc:
        log.exception("a resource provider failed unexpectedly")
        raise ResourceFailure(
            f"montemap could not carry this out ({type(exc).__name__}: {exc}); "
            "the server log has the details"
        ) from exc


def _answers_its_id(resource_type: str) -> bool:
    """Custom resources: their function says which physical resource an Update left."""
    return resource_type == "AWS::CloudFormation::CustomResource" or resource_type.startswith(
        "Custom::"
    )


def _new_id(previous: Doc, outcome: Outcome) -> bool:
    old = previous.get("PhysicalResourceId")
    return bool(old) and outcome.physical_id != old


#: A dynamic reference (``{{resolve:ssm:name}}``, ``{{resolve:secretsmanager:...}}``).
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(ssm|ssm-secure|secretsmanager):[^}]*\}\}")


def _refuse_dynamic_references(value: Any) -> None:
    """A resource that acts here cannot be given a dynamic reference's value: there is no
    Parameter Store or Secrets Manager behind montemap, so the literal text would reach the
    function or container. Fail the resource, saying so, rather than pass it silently."""
    if isinstance(value, str):
        found = _DYNAMIC_REFERENCE.search(value)
        if found is not None:
            raise ResourceFailure(
                f"Dynamic reference {found.group(0)} cannot be resolved here: montemap has no "
                f"{'Secrets Manager' if found.group(1) == 'secretsmanager' else 'SSM Parameter Store'}"
                " (pass the value in a template parameter of type String instead)"
            )
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_dynamic_references(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_dynamic_references(item)
