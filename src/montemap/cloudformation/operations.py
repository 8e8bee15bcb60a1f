"""The three stack operations, as sequences of resource steps: create, update, delete."""

from __future__ import annotations

import json
import time
from typing import Any

from montemap.cloudformation import parameters
from montemap.cloudformation.engine import StackEngine, State
from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.plan import Plan
from montemap.cloudformation.store import Doc
from montemap.errors import MontemapError


def outputs(state: State) -> tuple[list[Doc], dict[str, str]]:
    """The stack's Outputs and the exports among them; raises TemplateError."""
    shown: list[Doc] = []
    exports: dict[str, str] = {}
    for key, output in (state.plan.template.get("Outputs") or {}).items():
        if not isinstance(output, dict) or not isinstance(output.get("Export", {}), dict):
            raise TemplateError(
                f"Template format error: Output {key} is malformed: it is a mapping whose "
                "Export member is {Name: ...}"
            )
        condition = output.get("Condition")
        if condition is not None and not state.resolver.condition(str(condition)):
            continue
        value = state.resolver.resolve(output.get("Value"))
        text = ",".join(_text(v) for v in value) if isinstance(value, list) else _text(value)
        item: Doc = {"OutputKey": key, "OutputValue": text}
        if output.get("Description"):
            item["Description"] = str(output["Description"])
        if output.get("Export"):
            name = str(state.resolver.resolve(output["Export"].get("Name")))
            item["ExportName"] = name
            exports[name] = text
        shown.append(item)
    taken = state.engine.store.exports()
    for name in exports:
        owner = taken.get(name)
        if owner is not None and owner[1] != state.stack["StackId"]:
            other = state.engine.store.stack(owner[1], include_deleted=True)
            by = other["StackName"] if other else owner[1]
            raise ExportInUse(f"Export with name {name} is already exported by stack {by}")
    _check_imported_exports(state, taken, exports)
    return shown, exports


class ExportInUse(TemplateError):
    """An export another stack imports would change or go, or another stack's export has
    the name (the operation fails with this reason alone)."""


def _check_imported_exports(
    state: State, taken: dict[str, tuple[str, str]], exports: dict[str, str]
) -> None:
    """As on AWS: an export another stack imports can be neither changed nor removed."""
    mine = state.stack["StackId"]
    for name, (value, owner) in sorted(taken.items()):
        if owner != mine or exports.get(name) == value:
            continue
        users = sorted(
            other["StackName"]
            for other in state.engine.store.stacks()
            if other["StackId"] != mine and name in (other.get("_Imports") or [])
        )
        if not users:
            continue
        if name in exports:
            raise ExportInUse(f"Cannot update export {name} as it is in use by {named(users)}")
        raise ExportInUse(f"Export {name} cannot be deleted as it is in use by {named(users)}")


def named(stacks: list[str]) -> str:
    """Stack names as CloudFormation lists the importers of an export: ``a and b``."""
    return " and ".join([", ".join(stacks[:-1]), stacks[-1]] if len(stacks) > 1 else stacks)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _finish(engine: StackEngine, state: State) -> str | None:
    """Record outputs and exports; the failure reason, or None."""
    try:
        shown, exports = outputs(state)
    except ExportInUse as exc:
        return str(exc)
    except MontemapError as exc:
        return f"Outputs could not be resolved: {exc}"
    state.stack["Outputs"] = shown
    state.stack["_Imports"] = sorted(state.imports)
    engine.store.set_exports(state.stack["StackId"], exports)
    return None


def record_plan(stack: Doc, plan: Plan) -> None:
    stack["_Template"] = plan.text
    stack["_Parameters"] = plan.given()
    stack["Parameters"] = parameters.shown(plan.parameters)
    if plan.template.get("Description"):
        stack["Description"] = str(plan.template["Description"])


async def create(engine: StackEngine, stack: Doc, plan: Plan) -> None:
    record_plan(stack, plan)
    engine.stack_event(stack, "CREATE_IN_PROGRESS", "User Initiated")
    state = State(engine, stack, plan)
    failed: str | None = None
    for name in plan.order:
        try:
            wanted = state.active(name)
        except MontemapError as exc:
            failed = f"{name}: {exc}"
            break
        if wanted and not await engine.apply(state, name, update=False):
            failed = f"The following resource(s) failed to create: [{name}]."
            break
    if failed is None:
        failed = _finish(engine, state)
    if failed is None:
        engine.stack_event(stack, "CREATE_COMPLETE")
        return
    if stack.get("DisableRollback"):
        engine.stack_event(stack, "CREATE_FAILED", failed)
        return
    sentence = failed if failed.endswith(".") else failed + "."
    engine.stack_event(stack, "ROLLBACK_IN_PROGRESS", sentence + " Rollback requested by user.")
    ok = await _delete_all(engine, state, made_now=True)
    engine.stack_event(stack, "ROLLBACK_COMPLETE" if ok else "ROLLBACK_FAILED")
    if ok:
        _delete_rolled_back(engine, stack)


def _delete_rolled_back(engine: StackEngine, stack: Doc) -> None:
    """``OnFailure: DELETE``: the stack rolled back (nothing of it is left) is deleted."""
    if stack.get("_OnFailure") != "DELETE":
        return
    engine.stack_event(stack, "DELETE_IN_PROGRESS", "OnFailure is DELETE")
    engine.store.drop_change_sets(stack["StackId"])
    stack["DeletionTime"] = time.time()
    engine.stack_event(stack, "DELETE_COMPLETE")


async def fail_plan(engine: StackEngine, stack: Doc, reason: str) -> None:
    """A stack whose template could not be planned: the reason as an event, rolled back."""
    engine.stack_event(stack, "CREATE_IN_PROGRESS", "User Initiated")
    engine.event(
        stack, stack["StackName"], "AWS::CloudFormation::Stack", "CREATE_FAILED", reason=reason
    )
    engine.stack_event(stack, "ROLLBACK_IN_PROGRESS", reason)
    engine.stack_event(stack, "ROLLBACK_COMPLETE")
    _delete_rolled_back(engine, stack)


async def _delete_all(engine: StackEngine, state: State, *, made_now: bool = False) -> bool:
    ok = True
    for name in engine.deletion_order(state):
        ok = await engine.remove(state, name, made_now=made_now) and ok
    return ok


async def update(engine: StackEngine, stack: Doc, plan: Plan) -> None:
    old_text, old_given = stack.get("_Template", ""), dict(stack.get("_Parameters") or {})
    stack["LastUpdatedTime"] = time.time()
    engine.stack_event(stack, "UPDATE_IN_PROGRESS", "User Initiated")
    record_plan(stack, plan)
    state = State(engine, stack, plan)
    # a resource whose creation failed (a stack kept by DisableRollback) is created anew
    existing = {n for n, r in state.resources.items() if r.get("PhysicalResourceId")}
    failed: str | None = None
    for name in plan.order:
        try:
            wanted = state.active(name)
        except MontemapError as exc:
            failed = f"{name}: {exc}"
            break
        if not wanted:
            continue
        replace = (
            name in existing
            and state.resources[name]["ResourceType"] != plan.resources[name]["Type"]
        )
        if replace and not await engine.remove(state, name):
            failed = f"The following resource(s) failed to update: [{name}]."
            break
        if not await engine.apply(state, name, update=name in existing and not replace):
            failed = f"The following resource(s) failed to update: [{name}]."
            break
    if failed is None:
        failed = _finish(engine, state)
    if failed is None:
        engine.stack_event(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        for name, old in state.replaced:
            policy = plan.resources.get(name, {}).get("UpdateReplacePolicy")
            await engine.remove_replaced(state, name, old, retain=policy == "Retain")
        for name in [
            n
            for n in engine.deletion_order(state)
            if n not in plan.resources or not state.active(n)
        ]:
            await engine.remove(state, name)
        engine.stack_event(stack, "UPDATE_COMPLETE")
        return
    await _roll_back_update(engine, stack, state, existing, failed, old_text, old_given)


async def _roll_back_update(
    engine: StackEngine,
    stack: Doc,
    state: State,
    existing: set[str],
    failed: str,
    old_text: str,
    old_given: dict[str, str],
) -> None:
    """Delete what the update added and put back the previous properties."""
    from montemap.cloudformation.plan import prepare

    engine.stack_event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", failed)
    ok = True
    # resources the update replaced come back as they were (no new replacement is made)
    replacements = [
        (name, engine.restore_replaced(state, name, old)) for name, old in state.replaced
    ]
    for name in [n for n in engine.deletion_order(state) if n not in existing]:
        ok = await engine.remove(state, name, made_now=True) and ok
    try:
        previous = prepare(old_text, old_given, pseudo=state.plan.pseudo)
    except MontemapError:
        previous = None
    if previous is not None:
        record_plan(stack, previous)
        back = State(engine, stack, previous)
        for name in previous.order:
            if name in back.resources and back.active(name):
                ok = await engine.apply(back, name, update=True) and ok
        ok = _finish(engine, back) is None and ok
    if replacements:
        engine.stack_event(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        for name, new in replacements:
            await engine.remove_replaced(state, name, new)
    engine.stack_event(stack, "UPDATE_ROLLBACK_COMPLETE" if ok else "UPDATE_ROLLBACK_FAILED")


async def delete(engine: StackEngine, stack: Doc, plan: Plan | None) -> None:
    engine.stack_event(stack, "DELETE_IN_PROGRESS", "User Initiated")
    if plan is None:  # a stack whose template no longer plans: newest resources first
        plan = Plan("", {"Resources": {}}, {}, [], {}, {"AWS::Region": engine.services.region})
    state = State(engine, stack, plan)
    if not await _delete_all(engine, state):
        engine.stack_event(stack, "DELETE_FAILED", "The following resource(s) failed to delete.")
        return
    engine.store.set_exports(stack["StackId"], {})
    engine.store.drop_change_sets(stack["StackId"])
    stack["DeletionTime"] = time.time()
    engine.stack_event(stack, "DELETE_COMPLETE")
