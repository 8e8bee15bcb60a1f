"""Choice rules in the JSONPath query language (JSONata uses ``Condition``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from montemap.asl.jsonpath import query
from montemap.asl.jsonpath_syntax import PathError
from montemap.errors import RUNTIME, EvaluationError

#: An uppercase T and Z, as AWS requires (RFC 3339 allows lowercase), ASCII digits, and
#: nothing after (``$`` would allow a newline).
_TS_RE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp with an offset, or None when ``value`` is not one."""
    if not isinstance(value, str) or not _TS_RE.match(value):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        frac = re.match(r"[0-9]+", rest)
        assert frac is not None
        digits = frac.group(0)
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _string_matches(value: str, pattern: str) -> bool:
    """``*`` matches any run of characters; ``\\*`` and ``\\\\`` are literals.

    Matched without a regular expression: the literal runs between the ``*`` are
    found left to right (the first anchored at the start, the last at the end),
    so a pattern of many ``*`` costs at most a scan per run, never the
    backtracking a ``.*a.*a...`` regex costs on a long value.
    """
    parts = _wildcard_parts(pattern)
    if len(parts) == 1:
        return value == parts[0]
    first, *middle, last = parts
    if not value.startswith(first) or len(value) - len(last) < len(first):
        return False
    position, end = len(first), len(value) - len(last)
    for part in middle:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return value.endswith(last)


def _wildcard_parts(pattern: str) -> list[str]:
    """The literal runs of ``pattern`` around its unescaped ``*``."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            current.append(pattern[i + 1])
            i += 2
            continue
        if c == "*":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def _compare(kind: str, op: str, left: Any, right: Any) -> bool:
    if kind == "String":
        if not isinstance(left, str) or not isinstance(right, str):
            return False
        a: Any = left
        b: Any = right
    elif kind == "Numeric":
        if not _is_number(left) or not _is_number(right):
            return False
        a, b = left, right
    elif kind == "Boolean":
        if not isinstance(left, bool) or not isinstance(right, bool):
            return False
        return left == right
    else:  # Timestamp
        a, b = parse_timestamp(left), parse_timestamp(right)
        if a is None or b is None:
            return False
    result: bool = {
        "Equals": a == b,
        "LessThan": a < b,
        "GreaterThan": a > b,
        "LessThanEquals": a <= b,
        "GreaterThanEquals": a >= b,
    }[op]
    return result


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}

_COMPARISON_RE = re.compile(
    r"^(String|Numeric|Boolean|Timestamp)"
    r"(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)(Path)?$"
)

_MISSING = object()


def comparison_operator(rule: Mapping[str, Any]) -> str | None:
    """The rule's comparison operator field, if it has one."""
    for key in rule:
        if key in _TYPE_TESTS or key in ("IsPresent", "StringMatches") or _COMPARISON_RE.match(key):
            return key
    return None


def evaluate_rule(
    rule: Mapping[str, Any],
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any],
) -> bool:
    """Whether a (possibly compound) JSONPath choice rule matches ``data``."""
    if "And" in rule:
        return all(
            evaluate_rule(r, data, context=context, variables=variables) for r in rule["And"]
        )
    if "Or" in rule:
        return any(evaluate_rule(r, data, context=context, variables=variables) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], data, context=context, variables=variables)

    def lookup(path: str) -> Any:
        try:
            return query(path, data, context=context, variables=variables)
        except PathError:
            return _MISSING

    variable_path = rule.get("Variable", "$")
    value = lookup(variable_path)
    op = comparison_operator(rule)
    if op is None:
        raise EvaluationError(RUNTIME, "The Choice rule has no comparison operator.")
    operand = rule[op]
    if op == "IsPresent":
        return (value is not _MISSING) == bool(operand)
    if value is _MISSING:
        raise EvaluationError(
            RUNTIME,
            f"Invalid path '{variable_path}': The choice state's condition path references "
            "an invalid value.",
        )
    if op in _TYPE_TESTS:
        return _TYPE_TESTS[op](value) == bool(operand)
    if op == "StringMatches":
        return (
            isinstance(value, str) and isinstance(operand, str) and _string_matches(value, operand)
        )
    m = _COMPARISON_RE.match(op)
    assert m is not None
    kind, cmp, is_path = m.group(1), m.group(2), m.group(3)
    if is_path:
        other = lookup(operand)
        if other is _MISSING:
            raise EvaluationError(
                RUNTIME,
                f"Invalid path '{operand}': The choice state's condition path references an "
                "invalid value.",
            )
        operand = other
    return _compare(kind, cmp, value, operand)
