"""What CreateStack, UpdateStack and CreateChangeSet refuse before any stack exists.

CloudFormation checks a submitted template and request at once and answers a
``ValidationError`` (or ``InsufficientCapabilitiesException``) without creating
anything: a stack name outside its pattern, a resource type AWS does not have, a
reference to nothing, a dependency cycle, an attribute the type does not have, and
IAM resources (or a transform) without the capability that acknowledges them.
"""

from __future__ import annotations

import re
from typing import Any

from montemap.cloudformation import graph
from montemap.cloudformation.errors import TemplateError, validation
from montemap.cloudformation.intrinsics import references
from montemap.cloudformation.plan import PSEUDO
from montemap.cloudformation.providers import provider_for
from montemap.errors import ApiError

Params = dict[str, Any]


#: IAM resource types (a template with one needs CAPABILITY_IAM) and the property that
#: names each; a name given needs CAPABILITY_NAMED_IAM.
IAM_TYPES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::RolePolicy": None,
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserToGroupAddition": None,
}


def required_capabilities(template: dict[str, Any], *, direct: bool) -> tuple[list[str], str]:
    """The capabilities a template needs, and the reason ValidateTemplate gives.

    ``direct``: the stack is made from the template without a change set to review
    (CreateStack, UpdateStack), so a ``Transform`` needs CAPABILITY_AUTO_EXPAND. The IAM
    resources of a template with a transform are known only once it is expanded.
    """
    needed: list[str] = []
    named: list[str] = []
    unnamed: list[str] = []
    if not template.get("Transform"):
        for resource in (template.get("Resources") or {}).values():
            kind = str(resource.get("Type")) if isinstance(resource, dict) else ""
            if kind not in IAM_TYPES:
                continue
            name_property = IAM_TYPES[kind]
            props = resource.get("Properties") or {}
            if name_property and isinstance(props, dict) and props.get(name_property):
                named.append(kind)
            else:
                unnamed.append(kind)
    if named:
        needed.append("CAPABILITY_NAMED_IAM")
    elif unnamed:
        needed.append("CAPABILITY_IAM")
    if direct and template.get("Transform"):
        needed.append("CAPABILITY_AUTO_EXPAND")
    types = sorted(set(named) | set(unnamed))
    reason = (
        f"The following resource(s) require capabilities: [{', '.join(types)}]" if types else ""
    )
    return needed, reason


def check_capabilities(needed: list[str], params: Params) -> None:
    given = set(params.get("Capabilities") or [])
    missing = [c for c in needed if not _acknowledged(c, given)]
    if missing:
        raise ApiError(
            "InsufficientCapabilitiesException",
            f"Requires capabilities : [{', '.join(missing)}]",
            status=400,
        )


def _acknowledged(capability: str, given: set[str]) -> bool:
    if capability == "CAPABILITY_IAM":
        return bool(given & {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"})
    return capability in given


def check_resources(resources: dict[str, Any], declared: set[str], outputs: Any = None) -> None:
    """Template validation of the resources (CloudFormation's own messages)."""
    unknown = sorted(
        {
            str(r.get("Type"))
            for r in resources.values()
            if isinstance(r, dict) and not _known_type(str(r.get("Type")))
        }
    )
    if unknown:
        raise validation(
            f"Template format error: Unrecognized resource types: [{', '.join(unknown)}]"
        )
    try:
        deps = graph.dependencies(resources, set(PSEUDO), declared)
        graph.creation_order(deps)
    except TemplateError as exc:
        raise validation(str(exc).removeprefix("Template error: "))
    if isinstance(outputs, dict):
        known = set(resources) | set(PSEUDO) | declared
        unknown = sorted(references(list(outputs.values())) - known)
        if unknown:
            raise validation(
                f"Template format error: Unresolved resource dependencies [{', '.join(unknown)}] "
                "in the Outputs block of the template"
            )
    for target, attribute in sorted(_attributes_read([resources, outputs])):
        resource = resources.get(target)
        kind = str(resource.get("Type")) if isinstance(resource, dict) else ""
        patterns = _attribute_patterns(kind)
        if patterns is not None and not any(re.fullmatch(p, attribute) for p in patterns):
            raise validation(
                f"Template error: resource {target} does not support attribute type "
                f"{attribute} in Fn::GetAtt"
            )


def _attributes_read(value: Any) -> set[tuple[str, str]]:
    """The (resource, attribute) pairs a value reads with Fn::GetAtt or ``${X.Attr}``."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, list):
        for item in value:
            found |= _attributes_read(item)
        return found
    if not isinstance(value, dict):
        return found
    if len(value) == 1 and "Fn::GetAtt" in value:
        args = value["Fn::GetAtt"]
        if isinstance(args, str) and "." in args:
            target, attribute = args.split(".", 1)
            found.add((target, attribute))
        elif isinstance(args, list) and len(args) == 2 and all(isinstance(a, str) for a in args):
            found.add((args[0], args[1]))
        return found
    if len(value) == 1 and "Fn::Sub" in value:
        args = value["Fn::Sub"]
        text = args[0] if isinstance(args, list) and args else args
        local = (
            set(args[1])
            if isinstance(args, list) and len(args) == 2 and isinstance(args[1], dict)
            else set()
        )
        if isinstance(text, str):
            for match in re.finditer(r"\$\{([^}!][^}]*)\}", text):
                name = match.group(1)
                if "." in name and not name.startswith("AWS::") and name not in local:
                    target, attribute = name.split(".", 1)
                    found.add((target, attribute))
        if isinstance(args, list) and len(args) == 2:
            found |= _attributes_read(args[1])
        return found
    for item in value.values():
        found |= _attributes_read(item)
    return found


def _attribute_patterns(resource_type: str) -> list[str] | None:
    """The attributes ``Fn::GetAtt`` may read of an ``AWS::`` type (regular expressions, from
    the resource schemas cfn-lint ships); None where anything goes (custom resources...)."""
    if not resource_type.startswith("AWS::"):
        return None
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type)
        return list(schema.get_atts)
    except Exception:  # a type the schemas do not have: checked elsewhere
        return None


def _known_type(resource_type: str) -> bool:
    """Whether AWS has this type: ``AWS::`` types are looked up in the resource schemas;
    custom resources and other namespaces (registry types, modules) are let through."""
    if not resource_type.startswith("AWS::") or provider_for(resource_type) is not None:
        return True
    try:
        from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

        PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type)
    except Exception:  # cfn-lint's ResourceNotFoundError: no such type
        return False
    return True


#: What CreateStack accepts as a new stack's name (a letter, then letters, digits, hyphens).
_STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
#: The longest stack name.
STACK_NAME_MAX = 128


def check_stack_name(name: str) -> None:
    """Refuse a name CloudFormation refuses, with its message (before anything is made)."""
    if _STACK_NAME.fullmatch(name) is None:
        raise validation(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {_STACK_NAME.pattern}"
        )
    if len(name) > STACK_NAME_MAX:
        raise validation(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
            f"constraint: Member must have length less than or equal to {STACK_NAME_MAX}"
        )


def failure_choice(on_failure: Any, disable_rollback: Any) -> Params:
    """What a failed creation leaves, as the stack records it: CreateStack's ``OnFailure``
    (or CreateChangeSet's ``OnStackFailure``) or ``DisableRollback``, never both."""
    if on_failure is None:
        return {"DisableRollback": bool(disable_rollback)}
    if disable_rollback:  # (the AWS CLI's deploy sends DisableRollback=false every time)
        raise validation(
            "You can specify either DisableRollback or OnFailure (OnStackFailure), but not both"
        )
    choice = str(on_failure)
    if choice not in ("ROLLBACK", "DO_NOTHING", "DELETE"):
        raise validation(f"OnFailure must be one of ROLLBACK, DO_NOTHING or DELETE, not {choice}")
    return {"DisableRollback": choice == "DO_NOTHING", "_OnFailure": choice}
