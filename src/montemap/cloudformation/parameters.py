"""Template parameters: given values checked against their declarations, defaults filled in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from montemap.cloudformation.errors import TemplateError

#: Parameter types whose value is a list of strings.
LIST_TYPES = ("CommaDelimitedList", "List<")
#: What DescribeStacks shows instead of a NoEcho parameter's value.
MASK = "****"
#: Parameter types whose value names a Systems Manager parameter that AWS resolves.
SSM_VALUE = "AWS::SSM::Parameter::Value<"


@dataclass(frozen=True)
class ParameterValue:
    key: str
    value: str  # as given (a list type: comma-separated)
    resolved: Any  # what Ref gives: a string, or a list of strings
    no_echo: bool


def _is_list(declared_type: str) -> bool:
    return declared_type == "CommaDelimitedList" or declared_type.startswith("List<")


def known_type(declared: str) -> bool:
    """Whether CloudFormation knows a parameter type (AWS-specific ones by their prefix)."""
    return declared in ("String", "Number", "CommaDelimitedList") or declared.startswith(
        ("List<", "AWS::")
    )


def check_declarations(declared: dict[str, Any]) -> None:
    """Refuse a parameter declared with a type CloudFormation does not have."""
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            raise TemplateError(f"Template format error: Parameter '{name}' must be a mapping")
        kind = str(spec.get("Type", "String"))
        if not known_type(kind):
            raise TemplateError(f"Template format error: Unrecognized parameter type: {kind}")


def default_text(default: Any) -> str:
    """A ``Default`` as CloudFormation shows it (a YAML list: its members joined by commas)."""
    return ",".join(str(d) for d in default) if isinstance(default, list) else str(default)


def _number(name: str, spec: dict[str, Any], key: str) -> float | None:
    if key not in spec:
        return None
    try:
        return float(spec[key])
    except (TypeError, ValueError):
        raise TemplateError(
            f"Template format error: Parameter '{name}' {key} must be a number, not {spec[key]!r}"
        )


def _refused(name: str, spec: dict[str, Any], reason: str) -> TemplateError:
    """A constraint's refusal: its ``ConstraintDescription`` when the template gives one."""
    described = spec.get("ConstraintDescription")
    if described:
        return TemplateError(f"Parameter '{name}' failed to satisfy constraint: {described}")
    return TemplateError(f"Parameter '{name}' {reason}")


def _check(name: str, spec: dict[str, Any], value: str) -> Any:
    declared = str(spec.get("Type", "String"))
    allowed = spec.get("AllowedValues")
    items = [item.strip() for item in value.split(",")] if _is_list(declared) else [value]
    for item in items:
        if isinstance(allowed, list) and item not in [str(a) for a in allowed]:
            raise TemplateError(
                f"Parameter '{name}' must be one of AllowedValues "
                f"({', '.join(str(a) for a in allowed)}); got '{item}'"
            )
    numeric = declared in ("Number", "List<Number>")
    if numeric:
        for item in items:
            try:
                float(item)
            except ValueError:
                raise TemplateError(f"Parameter '{name}' must be a number not {item}")
    elif not known_type(declared):
        raise TemplateError(f"Template format error: Unrecognized parameter type: {declared}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not numeric:
        try:
            compiled = re.compile(str(pattern))
        except re.error as exc:
            raise TemplateError(
                f"Template format error: Parameter '{name}' AllowedPattern is not a valid "
                f"regular expression: {exc}"
            )
        for item in items:
            if compiled.fullmatch(item) is None:
                raise _refused(name, spec, f"must match pattern {pattern}")
    shortest, longest = _number(name, spec, "MinLength"), _number(name, spec, "MaxLength")
    if not numeric:
        if shortest is not None and len(value) < shortest:
            raise _refused(name, spec, f"must contain at least {int(shortest)} characters")
        if longest is not None and len(value) > longest:
            raise _refused(name, spec, f"must contain at most {int(longest)} characters")
    least, most = _number(name, spec, "MinValue"), _number(name, spec, "MaxValue")
    if numeric:
        for item in items:
            if least is not None and float(item) < least:
                raise _refused(
                    name, spec, f"must be a number greater than or equal to {spec['MinValue']}"
                )
            if most is not None and float(item) > most:
                raise _refused(
                    name, spec, f"must be a number less than or equal to {spec['MaxValue']}"
                )
    if declared.startswith(SSM_VALUE):
        # AWS gives Ref the parameter's value in Parameter Store, which montemap has not:
        # Ref gives the dynamic reference that stands for it, so that a resource that acts
        # fails saying so and one accepted without effect keeps it, never the bare name
        reference = f"{{{{resolve:ssm:{value.strip()}}}}}"
        listed = "List<" in declared or "CommaDelimitedList" in declared
        return [reference] if listed else reference
    return items if _is_list(declared) else value


def resolve(
    declared: dict[str, Any], given: dict[str, str], previous: dict[str, str] | None = None
) -> dict[str, ParameterValue]:
    """Every declared parameter's value: given, else the previous one (UsePreviousValue), else Default.

    Raises :class:`TemplateError` naming missing parameters (as CloudFormation:
    ``Parameters: [A, B] must have values``) and unknown ones.
    """
    check_declarations(declared)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    values: dict[str, ParameterValue] = {}
    missing: list[str] = []
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            raise TemplateError(f"Template format error: Parameter '{name}' must be a mapping")
        if name in given:
            text = given[name]
        elif previous is not None and name in previous:
            text = previous[name]
        elif "Default" in spec:
            text = default_text(spec["Default"])
        else:
            missing.append(name)
            continue
        values[name] = ParameterValue(
            name, text, _check(name, spec, text), bool(spec.get("NoEcho", False))
        )
    if missing:
        raise TemplateError(f"Parameters: [{', '.join(missing)}] must have values")
    return values


def shown(values: dict[str, ParameterValue]) -> list[dict[str, str]]:
    """The ``Parameters`` list DescribeStacks returns (NoEcho values masked)."""
    return [
        {"ParameterKey": v.key, "ParameterValue": MASK if v.no_echo else v.value}
        for v in values.values()
    ]
