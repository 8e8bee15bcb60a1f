"""The template's own shape, checked as CloudFormation checks it when a template is submitted.

What ``template.parse`` lets through because a transform may still rewrite it, but
which a template without a ``Transform`` must get right: the quotas on resources,
parameters and outputs, alphanumeric logical ids, the attributes a resource may
have, a ``Value`` for every output, a ``Type`` for every parameter, and conditions
that refer to parameters only (never to resources). Each refusal is CloudFormation's
``ValidationError`` message.
"""

from __future__ import annotations

import re
from typing import Any

from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.intrinsics import Resolver, is_function, references
from montemap.cloudformation.plan import Plan

#: CloudFormation's quotas on one template (cloudformation-limits).
MAX_RESOURCES = 500
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200
#: What a resource may declare besides its ``Type`` (resource attribute reference; and
#: ``Description``, which AWS accepts there: CodeStar's templates give every resource one).
RESOURCE_ATTRIBUTES = frozenset(
    {
        "Type",
        "Description",
        "Properties",
        "DependsOn",
        "Condition",
        "DeletionPolicy",
        "UpdateReplacePolicy",
        "Metadata",
        "CreationPolicy",
        "UpdatePolicy",
        "Version",
    }
)
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+")


def check(template: dict[str, Any]) -> None:
    """Raise :class:`TemplateError` for the first thing CloudFormation refuses in the shape."""
    resources: dict[str, Any] = template.get("Resources") or {}
    parameters = template.get("Parameters") or {}
    outputs = template.get("Outputs") or {}
    for section, count, most in (
        ("resources", len(resources), MAX_RESOURCES),
        ("parameters", len(parameters) if isinstance(parameters, dict) else 0, MAX_PARAMETERS),
        ("outputs", len(outputs) if isinstance(outputs, dict) else 0, MAX_OUTPUTS),
    ):
        if count > most:
            raise TemplateError(
                f"Template format error: Number of {section}, {count}, is greater than "
                f"maximum allowed, {most}"
            )
    for name, resource in resources.items():
        if _ALPHANUMERIC.fullmatch(name) is None:
            raise TemplateError(f"Template format error: Resource name {name} is non alphanumeric.")
        unknown = sorted(set(resource) - RESOURCE_ATTRIBUTES)
        if unknown:
            raise TemplateError(f"Invalid template resource property '{unknown[0]}'")
        properties = resource.get("Properties")
        if properties is not None and not isinstance(properties, dict):
            raise TemplateError(
                f"Template format error: [/Resources/{name}/Properties] "
                "Properties must be an object"
            )
    if isinstance(parameters, dict):
        for spec in parameters.values():
            if isinstance(spec, dict) and "Type" not in spec:
                raise TemplateError(
                    "Template format error: Every Parameters object must contain a Type member."
                )
    if isinstance(outputs, dict):
        for name, output in outputs.items():
            if not isinstance(output, dict) or "Value" not in output:
                raise TemplateError(
                    "Template format error: Every Outputs member must contain a Value object"
                )
            export = output.get("Export")
            if export is not None and not (isinstance(export, dict) and "Name" in export):
                raise TemplateError(
                    f"Template format error: Output {name} is malformed: the Export member "
                    "must contain a Name"
                )
    _check_conditions(template.get("Conditions") or {}, set(resources))


def _check_conditions(conditions: Any, resources: set[str]) -> None:
    if not isinstance(conditions, dict):
        return
    named = sorted(references(list(conditions.values())) & resources)
    if named:
        raise TemplateError(
            f"Template format error: Unresolved dependencies [{', '.join(named)}]. Cannot "
            "reference resources in the Conditions block of the template"
        )


def check_conditional_references(plan: Plan) -> None:
    """Refuse a reference to a resource whose ``Condition`` is false, as CloudFormation does
    once the parameters are known: from a resource that is made, or an output that is shown
    (a reference in the ``Fn::If`` branch not taken is no reference)."""
    resolver = plan.resolver(_not_yet, _not_yet, _not_yet)

    def made(declared: Any) -> bool:
        condition = declared.get("Condition") if isinstance(declared, dict) else None
        return condition is None or resolver.condition(str(condition))

    absent = {name for name, resource in plan.resources.items() if not made(resource)}
    outputs = plan.template.get("Outputs") or {}
    shown = {name: made(output) for name, output in outputs.items()}  # each condition known
    if not absent:
        return
    used = [
        ("Resources", r.get("Properties")) for n, r in plan.resources.items() if n not in absent
    ]
    used += [
        ("Outputs", o.get("Value")) for n, o in outputs.items() if shown[n] and isinstance(o, dict)
    ]
    for block, value in used:
        named = sorted(_taken(value, resolver) & absent)
        if named:
            raise TemplateError(
                f"Template format error: Unresolved resource dependencies "
                f"[{', '.join(named)}] in the {block} block of the template"
            )


def _not_yet(*names: str) -> Any:
    raise TemplateError("Template error: only conditions are evaluated here")


def _taken(value: Any, resolver: Resolver) -> set[str]:
    """The names ``value`` refers to, in the ``Fn::If`` branches its conditions take."""
    if isinstance(value, list):
        return set().union(*(_taken(item, resolver) for item in value))
    if not isinstance(value, dict):
        return set()
    if is_function(value) == "Fn::If":
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3 and isinstance(args[0], str):
            return _taken(args[1] if resolver.condition(args[0]) else args[2], resolver)
        return set()
    if is_function(value) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
        return references(value)
    return set().union(*(_taken(item, resolver) for item in value.values()))
