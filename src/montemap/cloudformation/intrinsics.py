"""Intrinsic functions, pseudo parameters and conditions, evaluated over a template's values.

:class:`Resolver` is given what a stack knows at one moment (parameters,
mappings, the physical ids and attributes of resources created so far,
exports) through :class:`Lookups`, and turns any template value into plain
JSON. ``Fn::If`` with ``AWS::NoValue`` removes the property, as on AWS.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from montemap.cloudformation.errors import TemplateError


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()
_SUB_RE = re.compile(r"\$\{([^}]*)\}")
#: Every intrinsic function name a value may hold (a one-key mapping with such a key).
FUNCTIONS = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::ImportValue",
        "Fn::If",
        "Fn::Equals",
        "Fn::And",
        "Fn::Or",
        "Fn::Not",
        "Fn::FindInMap",
        "Fn::GetAZs",
        "Fn::Base64",
        "Fn::Cidr",
        "Condition",
    }
)
#: Fn::Cidr's count: at least 1, at most 256 blocks.
MAX_CIDR_COUNT = 256


@dataclass
class Lookups:
    """What intrinsics can see: supplied by the stack engine."""

    parameters: dict[str, Any]
    pseudo: dict[str, Any]
    mappings: dict[str, Any]
    conditions: dict[str, Any]
    #: Ref of a resource: its physical id (raises TemplateError when not known yet).
    resource_ref: Callable[[str], Any]
    #: Fn::GetAtt of a resource.
    resource_attr: Callable[[str, str], Any]
    #: Fn::ImportValue: another stack's export.
    import_value: Callable[[str], str]
    region: str = "us-east-1"


def is_function(value: Any, functions: frozenset[str] = FUNCTIONS) -> str | None:
    """The intrinsic's name when ``value`` is one (a single-key mapping), else None."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in functions:
            return str(key)
    return None


class Resolver:
    """Resolves template values against :class:`Lookups`."""

    #: The function names this resolver evaluates (the Rules section adds its own).
    functions: frozenset[str] = FUNCTIONS

    def __init__(self, lookups: Lookups, extra: frozenset[str] = frozenset()) -> None:
        self.lookups = lookups
        if extra:  # a transform's functions (AWS::LanguageExtensions)
            self.functions = type(self).functions | extra
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # ------------------------------------------------------------------ conditions

    def condition(self, name: str) -> bool:
        """The value of the template's condition ``name``."""
        if name in self._conditions:
            return self._conditions[name]
        if name not in self.lookups.conditions:
            raise TemplateError(
                f"Template format error: Unresolved condition dependency {name} in Fn::If"
            )
        if name in self._evaluating:
            raise TemplateError(f"Template error: circular condition dependency on {name}")
        self._evaluating.add(name)
        try:
            value = self.resolve(self.lookups.conditions[name])
        finally:
            self._evaluating.discard(name)
        if not isinstance(value, bool):
            raise TemplateError(f"Template error: condition {name} is not a boolean condition")
        self._conditions[name] = value
        return value

    # ------------------------------------------------------------------ values

    def resolve(self, value: Any) -> Any:
        name = is_function(value, self.functions)
        if name is not None:
            return getattr(self, "_" + name.replace("Fn::", "fn_"))(value[name])
        if isinstance(value, dict):
            out = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in out.items() if v is not NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        return value

    def _text(self, value: Any, where: str) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, int | float | str):
            return str(resolved)
        raise TemplateError(f"Template error: {where} needs a string, got {json.dumps(resolved)}")

    def _Ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise TemplateError("Template error: Ref must name a parameter or a resource")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.lookups.pseudo:
            return self.lookups.pseudo[name]
        if name in self.lookups.parameters:
            return self.lookups.parameters[name]
        return self.lookups.resource_ref(name)

    def _fn_GetAtt(self, args: Any) -> Any:
        if isinstance(args, str):
            args = args.split(".", 1)
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError("Template error: Fn::GetAtt needs [resource, attribute]")
        return self.lookups.resource_attr(str(args[0]), self._text(args[1], "Fn::GetAtt"))

    def _fn_Sub(self, args: Any) -> str:
        variables: dict[str, Any] = {}
        if isinstance(args, list):
            if len(args) != 2 or not isinstance(args[1], dict):
                raise TemplateError("Template error: Fn::Sub needs a string or [string, mapping]")
            text = args[0]
            variables = {k: self.resolve(v) for k, v in args[1].items()}
        else:
            text = args
        if not isinstance(text, str):
            raise TemplateError("Template error: Fn::Sub needs a string")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and name.split(".", 1)[0] not in self.lookups.pseudo:
                resource, attribute = name.split(".", 1)
                value = self.lookups.resource_attr(resource, attribute)
            else:
                value = self._Ref(name)
            if isinstance(value, list | dict):
                raise TemplateError(f"Template error: Fn::Sub variable {name} is not a string")
            return str(value)

        return _SUB_RE.sub(substitute, text)

    def _fn_Join(self, args: Any) -> str:
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError("Template error: Fn::Join needs [delimiter, [values]]")
        items = self.resolve(args[1])
        if not isinstance(items, list):
            raise TemplateError("Template error: Fn::Join needs a list of values")
        return str(args[0]).join(self._text(item, "Fn::Join") for item in items)

    def _fn_Select(self, args: Any) -> Any:
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError("Template error: Fn::Select needs [index, list]")
        index, items = self.resolve(args[0]), self.resolve(args[1])
        try:
            position = int(index)
        except (TypeError, ValueError):
            raise TemplateError(f"Template error: Fn::Select index {index!r} is not a number")
        if not isinstance(items, list) or not 0 <= position < len(items):
            raise TemplateError(
                f"Template error: Fn::Select cannot select nonexistent value at index {position}"
            )
        return items[position]

    def _fn_Split(self, args: Any) -> list[str]:
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError("Template error: Fn::Split needs [delimiter, string]")
        return self._text(args[1], "Fn::Split").split(str(args[0]))

    def _fn_ImportValue(self, args: Any) -> str:
        return self.lookups.import_value(self._text(args, "Fn::ImportValue"))

    def _fn_If(self, args: Any) -> Any:
        if not isinstance(args, list) or len(args) != 3 or not isinstance(args[0], str):
            raise TemplateError("Template error: Fn::If needs [condition, value if true, else]")
        return self.resolve(args[1] if self.condition(args[0]) else args[2])

    def _fn_Equals(self, args: Any) -> bool:
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError("Template error: Fn::Equals needs two values")
        left, right = (self.resolve(a) for a in args)
        return bool(_comparable(left) == _comparable(right))

    def _booleans(self, args: Any, name: str) -> list[bool]:
        if not isinstance(args, list) or not args:
            raise TemplateError(f"Template error: {name} needs a list of conditions")
        values = [self.resolve(a) for a in args]
        if not all(isinstance(v, bool) for v in values):
            raise TemplateError(f"Template error: {name} needs conditions")
        return values

    def _fn_And(self, args: Any) -> bool:
        return all(self._booleans(args, "Fn::And"))

    def _fn_Or(self, args: Any) -> bool:
        return any(self._booleans(args, "Fn::Or"))

    def _fn_Not(self, args: Any) -> bool:
        values = self._booleans(args, "Fn::Not")
        if len(values) != 1:
            raise TemplateError("Template error: Fn::Not needs exactly one condition")
        return not values[0]

    def _Condition(self, name: Any) -> bool:
        return self.condition(str(name))

    def _fn_FindInMap(self, args: Any) -> Any:
        if not isinstance(args, list) or len(args) not in (3, 4):
            raise TemplateError("Template error: Fn::FindInMap needs [map, top key, second key]")
        names = [self._text(a, "Fn::FindInMap") for a in args[:3]]
        found: Any = self.lookups.mappings
        for depth, key in enumerate(names):
            if not isinstance(found, dict) or key not in found:
                if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
                    return self.resolve(args[3]["DefaultValue"])
                where = ("Mappings", f"map {names[0]}", f"key {names[1]} of {names[0]}")[depth]
                raise TemplateError(
                    f"Template error: Unable to get mapping for {'::'.join(names)}: "
                    f"{key} not found in {where}"
                )
            found = found[key]
        return found

    def _fn_GetAZs(self, args: Any) -> list[str]:
        region = self._text(args, "Fn::GetAZs") or self.lookups.region
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_Base64(self, args: Any) -> str:
        return base64.b64encode(self._text(args, "Fn::Base64").encode("utf-8")).decode("ascii")

    def _fn_Cidr(self, args: Any) -> list[str]:
        if not isinstance(args, list) or len(args) != 3:
            raise TemplateError("Template error: Fn::Cidr needs [ipBlock, count, cidrBits]")
        block = self._text(args[0], "Fn::Cidr")
        count, bits = (self._number(a, "Fn::Cidr") for a in args[1:])
        return cidr_blocks(block, count, bits)

    def _fn_Length(self, args: Any) -> int:
        items = self.resolve(args)
        if not isinstance(items, list):
            raise TemplateError(f"Template error: Fn::Length needs a list, got {json.dumps(items)}")
        return len(items)

    def _fn_ToJsonString(self, args: Any) -> str:
        value = self.resolve(args)
        if not isinstance(value, dict | list):
            raise TemplateError("Template error: Fn::ToJsonString needs an object or an array")
        return json.dumps(value, separators=(",", ":"))

    def _number(self, value: Any, where: str) -> int:
        text = self._text(value, where)
        try:
            return int(text)
        except ValueError:
            raise TemplateError(f"Template error: {where} needs a whole number, got {text!r}")


def cidr_blocks(block: str, count: int, bits: int) -> list[str]:
    """Fn::Cidr: the first ``count`` subnets of ``block`` with ``bits`` host bits each."""
    try:
        network = ipaddress.ip_network(block, strict=False)
    except ValueError:
        raise TemplateError(f"Template error: Fn::Cidr ipBlock {block!r} is not a CIDR block")
    if not 1 <= count <= MAX_CIDR_COUNT:
        raise TemplateError(
            f"Template error: Fn::Cidr count must be between 1 and {MAX_CIDR_COUNT}, not {count}"
        )
    prefix = network.max_prefixlen - bits
    if bits < 0 or prefix < network.prefixlen:
        raise TemplateError(
            f"Template error: Fn::Cidr cidrBits {bits} does not fit in {network} "
            f"(at most {network.max_prefixlen - network.prefixlen})"
        )
    available = 2 ** (prefix - network.prefixlen)
    if count > available:
        raise TemplateError(
            f"Template error: Fn::Cidr cannot make {count} blocks of /{prefix} in {network} "
            f"(it holds {available})"
        )
    subnets = network.subnets(new_prefix=prefix)
    return [str(next(subnets)) for _ in range(count)]


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def references(value: Any) -> set[str]:
    """The names a value refers to through Ref, Fn::GetAtt and Fn::Sub (parameters included)."""
    found: set[str] = set()
    name = is_function(value)
    if name == "Ref" and isinstance(value["Ref"], str):
        found.add(value["Ref"])
    elif name == "Fn::GetAtt":
        args = value[name]
        target = args.split(".", 1)[0] if isinstance(args, str) else args[0]
        if isinstance(target, str):
            found.add(target)
    elif name == "Fn::Sub":
        args = value[name]
        text = args[0] if isinstance(args, list) else args
        local = set(args[1]) if isinstance(args, list) and isinstance(args[1], dict) else set()
        if isinstance(text, str):
            for match in _SUB_RE.finditer(text):
                ref = match.group(1)
                if not ref.startswith("!") and ref.split(".", 1)[0] not in local:
                    found.add(ref.split(".", 1)[0])
        if isinstance(args, list) and len(args) == 2:
            found |= references(args[1])
        return found
    if isinstance(value, dict):
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
