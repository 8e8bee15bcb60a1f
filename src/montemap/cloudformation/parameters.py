"""Template parameters: given values checked against their declarations, defaults filled in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from montemap.cloudformation.errors import TemplateError

#: Parameter types whose value is a list of strings.
LIST_TYPES = ("CommaDelimitedList", "List<")
#: What DescribeStacks shows instead of a NoEcho parameter's value.
MASK = "****"


@dataclass(frozen=True)
class ParameterValue:
    key: str
    value: str  # as given (a list type: comma-separated)
    resolved: Any  # what Ref gives: a string, or a list of strings
    no_echo: bool


def _is_list(declared_type: str) -> bool:
    return declared_type == "CommaDelimitedList" or declared_type.startswith("List<")


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
    if declared == "Number" or declared == "List<Number>":
        for item in items:
            try:
                float(item)
            except ValueError:
                raise TemplateError(f"Parameter '{name}' must be a number not {item}")
    elif declared not in ("String", "CommaDelimitedList") and not declared.startswith(
        ("List<", "AWS::")
    ):
        raise TemplateError(f"Parameter '{name}' has an unsupported Type {declared}")
    return items if _is_list(declared) else value


def resolve(
    declared: dict[str, Any], given: dict[str, str], previous: dict[str, str] | None = None
) -> dict[str, ParameterValue]:
    """Every declared parameter's value: given, else the previous one (UsePreviousValue), else Default.

    Raises :class:`TemplateError` naming missing parameters (as CloudFormation:
    ``Parameters: [A, B] must have values``) and unknown ones.
    """
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
            default = spec["Default"]
            text = ",".join(str(d) for d in default) if isinstance(default, list) else str(default)
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
