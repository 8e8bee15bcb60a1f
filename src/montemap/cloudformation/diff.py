"""What a change set shows: each resource's change, as DescribeChangeSet reports it.

A resource is listed only when deploying the plan would touch it: its
properties, resolved with the new parameters against the stack's live
resources, differ from what it was made with (or it is added, removed, or its
type changed). ``Replacement`` is ``True`` when a property that can only be
set at creation (CloudFormation's ``createOnlyProperties``, read from
cfn-lint's copy of the resource schemas) changes, ``Conditional`` when such a
property refers to a resource that is itself replaced (its new value is known
only then), else ``False``. Each changed property is a ``Details`` entry with
its ``Evaluation`` (``Static``/``Dynamic``), ``ChangeSource`` and
``RequiresRecreation``.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from montemap.cloudformation.intrinsics import is_function, references
from montemap.cloudformation.store import Doc
from montemap.errors import MontemapError

if TYPE_CHECKING:
    from montemap.cloudformation.engine import StackEngine
    from montemap.cloudformation.plan import Plan

log = logging.getLogger(__name__)

#: What a reference to a resource being replaced resolves to while changes are computed.
_PENDING = "\x00pending:"


NESTED_STACK = "AWS::CloudFormation::Stack"
#: How a change set names the update of a nested stack whose properties did not change.
_AUTOMATIC = {
    "Target": {"Attribute": "Properties", "RequiresRecreation": "Never"},
    "Evaluation": "Dynamic",
    "ChangeSource": "Automatic",
}


@functools.cache
def create_only(resource_type: str) -> frozenset[str]:
    """Top-level properties whose change replaces a resource of this type."""
    if not resource_type.startswith("AWS::"):
        return frozenset()  # custom resources are updated in place
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    except Exception:  # an unknown type: nothing is known to need replacement
        return frozenset()
    found = set()
    for pointer in schema.get("createOnlyProperties") or []:
        parts = str(pointer).split("/")
        if len(parts) >= 3 and parts[1] == "properties":
            found.add(parts[2])
    return frozenset(found)


def _pending(value: Any) -> bool:
    if isinstance(value, str):
        return _PENDING in value
    if isinstance(value, dict):
        return any(_pending(v) for v in value.values())
    if isinstance(value, list):
        return any(_pending(v) for v in value)
    return False


def _source(raw_old: Any, raw_new: Any, parameters: set[str]) -> str:
    """Why a property changed: the template's text, or a parameter it refers to."""
    if raw_old != raw_new:
        return "DirectModification"
    if references(raw_new) & parameters:
        return "ParameterReference"
    return "DirectModification"


def _reads_attribute(raw: Any) -> bool:
    """Whether a property's template value reads an attribute (``Fn::GetAtt``, ``${X.Attr}``)."""
    name = is_function(raw)
    if name == "Fn::GetAtt":
        return True
    if name == "Fn::Sub":
        args = raw[name]
        text = args[0] if isinstance(args, list) and args else args
        if isinstance(text, str) and "." in text:
            return True
    if isinstance(raw, dict):
        return any(_reads_attribute(v) for v in raw.values())
    if isinstance(raw, list):
        return any(_reads_attribute(v) for v in raw)
    return False


def changes(engine: StackEngine, old: Doc | None, plan: Plan) -> list[dict[str, Any]]:
    """The change set's ``Changes`` for deploying ``plan`` over ``old`` (None: a new stack)."""
    from montemap.cloudformation.engine import State

    probe: Doc = old if old is not None else {"StackId": "", "StackName": ""}
    state = State(engine, probe, plan)
    if old is None:
        state.resources = {}
    moving: set[str] = set()  # resources that are added or replaced: their Ref/GetAtt change

    def ref(name: str) -> Any:
        live = state.resources.get(name)
        if name in moving or live is None or not live.get("PhysicalResourceId"):
            return f"{_PENDING}{name}\x00"
        return live["PhysicalResourceId"]

    def attr(name: str, attribute: str) -> Any:
        live = state.resources.get(name)
        if name in moving or live is None or not live.get("PhysicalResourceId"):
            return f"{_PENDING}{name}.{attribute}\x00"
        attributes = live.get("_Attributes") or {}
        return attributes.get(attribute, attributes.get("*", f"{_PENDING}{name}.{attribute}\x00"))

    resolver = plan.resolver(ref, attr, state.import_value)
    before = _previous_resources(engine, old, plan)
    parameter_names = set(plan.parameters)
    out: list[dict[str, Any]] = []
    kept: set[str] = set()
    for name in plan.order:
        declared = plan.resources[name]
        condition = declared.get("Condition")
        try:
            wanted = condition is None or resolver.condition(str(condition))
        except MontemapError:
            wanted = True
        if not wanted:
            continue
        kept.add(name)
        resource_type = str(declared["Type"])
        live = state.resources.get(name)
        if live is None or not live.get("PhysicalResourceId"):
            moving.add(name)
            out.append(_change("Add", name, resource_type))
            continue
        if live["ResourceType"] != resource_type:
            moving.add(name)
            out.append(_change("Modify", name, resource_type, live, "True", []))
            continue
        try:
            wanted_properties = resolver.resolve(declared.get("Properties") or {})
        except MontemapError as exc:
            log.debug("change set: %s does not resolve yet: %s", name, exc)
            wanted_properties = None
        if not isinstance(wanted_properties, dict):
            out.append(_change("Modify", name, resource_type, live, "Conditional", []))
            continue
        current = live.get("_Properties") or {}
        raw_new = declared.get("Properties") or {}
        raw_old = (before.get(name) or {}).get("Properties") or {}
        replacement, details = _details(
            current, wanted_properties, raw_new, raw_old, create_only(resource_type),
            parameter_names,
        )  # fmt: skip
        if not details and resource_type == NESTED_STACK:
            # its template may have changed where it is: AWS always lists a nested stack
            replacement, details = "False", [_AUTOMATIC]
        if not details:
            continue
        if replacement != "False":
            moving.add(name)
        out.append(_change("Modify", name, resource_type, live, replacement, details))
    for name, live in state.resources.items():
        if name not in kept and live.get("PhysicalResourceId"):
            out.append(_change("Remove", name, str(live["ResourceType"]), live))
    return out


def _details(
    current: dict[str, Any],
    wanted: dict[str, Any],
    raw_new: dict[str, Any],
    raw_old: dict[str, Any],
    recreate: frozenset[str],
    parameter_names: set[str],
) -> tuple[str, list[dict[str, Any]]]:
    """A modified resource's ``Replacement`` (True, Conditional, False) and the ``Details``
    of its properties that change (``current``: as deployed, ``wanted``: resolved from the
    new template, ``raw_*``: as the templates write them; ``recreate``: the type's
    create-only properties)."""
    details: list[dict[str, Any]] = []
    replacement = "False"
    for key in sorted(set(current) | set(wanted)):
        new_value = wanted.get(key)
        if _pending(new_value):
            evaluation = "Dynamic"
            source = (
                "ResourceAttribute" if _reads_attribute(raw_new.get(key)) else "ResourceReference"
            )
        elif new_value != current.get(key):
            evaluation = "Static"
            source = _source(raw_old.get(key), raw_new.get(key), parameter_names)
        else:
            continue
        always = key in recreate
        if always:
            if evaluation == "Static":
                replacement = "True"
            elif replacement == "False":
                replacement = "Conditional"
        target: dict[str, Any] = {
            "Attribute": "Properties",
            "Name": key,
            "RequiresRecreation": "Always" if always else "Never",
        }
        detail: dict[str, Any] = {
            "Target": target,
            "Evaluation": evaluation,
            "ChangeSource": source,
        }
        if source == "ParameterReference":
            refs = sorted(references(raw_new.get(key)) & parameter_names)
            if refs:
                detail["CausingEntity"] = refs[0]
        details.append(detail)
    return replacement, details


def _previous_resources(engine: StackEngine, old: Doc | None, plan: Plan) -> dict[str, Any]:
    """The stack's current template's resources (as written), to tell what the text changed."""
    if old is None or not old.get("_Template"):
        return {}
    from montemap.cloudformation.plan import prepare

    try:
        previous = prepare(old["_Template"], old.get("_Parameters") or {}, pseudo=plan.pseudo)
    except MontemapError:
        return {}
    return previous.resources


def _change(
    action: str,
    name: str,
    resource_type: str,
    live: Doc | None = None,
    replacement: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": name,
        "ResourceType": resource_type,
        "Scope": ["Properties"] if details else [],
        "Details": details or [],
    }
    if live is not None and live.get("PhysicalResourceId"):
        detail["PhysicalResourceId"] = live["PhysicalResourceId"]
    if action == "Modify":
        detail["Replacement"] = replacement or "Conditional"
    return {"Type": "Resource", "ResourceChange": detail}
