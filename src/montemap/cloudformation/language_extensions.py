"""``Transform: AWS::LanguageExtensions``: Fn::ForEach, Fn::Length, Fn::ToJsonString.

``Fn::ForEach::Name: [Identifier, Collection, {OutputKey: OutputValue}]`` is
expanded here, before anything else reads the template: in ``Conditions``,
``Resources`` (also inside a resource's properties) and ``Outputs``, one
copy of the fragment per item of the collection, with ``${Identifier}`` and
``&{Identifier}`` (the item without its non-alphanumeric characters) in the
keys and in ``Fn::Sub`` strings, and ``Ref: Identifier``, replaced by the
item. The collection may use parameters, mappings and pseudo parameters.
Intrinsics in ``DeletionPolicy`` and ``UpdateReplacePolicy`` are resolved
the same way. ``Fn::Length`` and ``Fn::ToJsonString`` are evaluated with the
other intrinsics when resources are deployed (:data:`FUNCTIONS`).
"""

from __future__ import annotations

import re
from typing import Any

from montemap.cloudformation.errors import TemplateError
from montemap.cloudformation.intrinsics import Lookups, Resolver

NAME = "AWS::LanguageExtensions"
FOR_EACH = "Fn::ForEach::"
#: The functions the transform adds to those evaluated at deployment.
FUNCTIONS = frozenset({"Fn::Length", "Fn::ToJsonString"})
_POLICIES = ("DeletionPolicy", "UpdateReplacePolicy")

Template = dict[str, Any]


def _refuse(name: str, *_: Any) -> Any:
    raise TemplateError(
        f"Transform {NAME} failed with: Fn::ForEach collections and policies can use parameters "
        f"and mappings only, not {name}"
    )


def expand(template: Template, parameters: dict[str, Any], pseudo: dict[str, Any]) -> Template:
    """The template with every Fn::ForEach expanded and its policies resolved."""
    lookups = Lookups(
        parameters=parameters,
        pseudo=pseudo,
        mappings=template.get("Mappings") or {},
        conditions={},
        resource_ref=_refuse,
        resource_attr=_refuse,
        import_value=_refuse,
        region=str(pseudo.get("AWS::Region", "us-east-1")),
    )
    resolver = Resolver(lookups)
    out = dict(template)
    for section in ("Conditions", "Resources", "Outputs"):
        if isinstance(out.get(section), dict):
            out[section] = _walk(out[section], resolver)
    for name, resource in (out.get("Resources") or {}).items():
        for policy in _POLICIES:
            if isinstance(resource, dict) and isinstance(resource.get(policy), dict):
                value = resolver.resolve(resource[policy])
                if not isinstance(value, str):
                    raise TemplateError(f"Template format error: {name}: {policy} must be a string")
                resource[policy] = value
    return out


def _walk(value: Any, resolver: Resolver) -> Any:
    """``value`` with the Fn::ForEach keys of its mappings expanded (nested ones too)."""
    if isinstance(value, list):
        return [_walk(item, resolver) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        produced = (
            _for_each(key, item, resolver)
            if key.startswith(FOR_EACH)
            else {key: _walk(item, resolver)}
        )
        for new_key, new_value in produced.items():
            if new_key in out:
                raise TemplateError(
                    f"Transform {NAME} failed with: {key} makes the key {new_key}, which "
                    "already exists"
                )
            out[new_key] = new_value
    return out


def _for_each(key: str, args: Any, resolver: Resolver) -> dict[str, Any]:
    if (
        not isinstance(args, list)
        or len(args) != 3
        or not isinstance(args[0], str)
        or not isinstance(args[2], dict)
    ):
        raise TemplateError(
            f"Transform {NAME} failed with: {key} needs [Identifier, Collection, "
            "{OutputKey: OutputValue}]"
        )
    identifier, collection, fragment = args
    items = resolver.resolve(collection)
    if isinstance(items, str):
        items = [part.strip() for part in items.split(",")]
    if not isinstance(items, list) or not all(isinstance(i, str | int | float) for i in items):
        raise TemplateError(f"Transform {NAME} failed with: the collection of {key} is not a list")
    out: dict[str, Any] = {}
    for item in (str(i) for i in items):
        for name, body in fragment.items():
            new_key = _in_text(name, identifier, item)
            if new_key == name and not name.startswith(FOR_EACH):
                raise TemplateError(
                    f"Transform {NAME} failed with: the output key {name} of {key} must use "
                    f"${{{identifier}}} or &{{{identifier}}}"
                )
            replaced = _replace(body, identifier, item)
            if name.startswith(FOR_EACH):
                out.update(_walk({new_key: replaced}, resolver))
            else:
                out[new_key] = _walk(replaced, resolver)
    return out


def _in_text(text: str, identifier: str, item: str) -> str:
    plain = re.sub(r"[^A-Za-z0-9]", "", item)
    return text.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", plain)


def _replace(value: Any, identifier: str, item: str, *, in_sub: bool = False) -> Any:
    if isinstance(value, str):
        return _in_text(value, identifier, item) if in_sub else value
    if isinstance(value, list):
        return [_replace(v, identifier, item, in_sub=in_sub) for v in value]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": identifier}:
        return item
    out: dict[str, Any] = {}
    for key, inner in value.items():
        new_key = _in_text(key, identifier, item)
        if key == "Fn::Sub" and isinstance(inner, list) and len(inner) == 2:
            out[new_key] = [
                _replace(inner[0], identifier, item, in_sub=True),
                _replace(inner[1], identifier, item),
            ]
        else:
            out[new_key] = _replace(inner, identifier, item, in_sub=key == "Fn::Sub")
    text = out.get("Fn::Sub")
    if len(out) == 1 and isinstance(text, str) and "${" not in text:
        return text  # a name made of the loop's items: a plain string (GetAtt, DependsOn...)
    return out
