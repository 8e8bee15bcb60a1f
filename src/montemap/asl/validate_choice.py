"""Validation of Choice rules (``Choices``, ``Default``)."""

from __future__ import annotations

from typing import Any

from montemap.asl.jsonata_query import is_expression
from montemap.asl.validate_base import (
    JSONATA,
    TIMESTAMP_FORM,
    Context,
    check_fields,
    expect_object,
    expect_string,
    is_number,
    is_timestamp,
    pointer,
    shown,
    type_name,
)
from montemap.asl.validate_payload import check_assign, check_expressions, check_path

_STRING_OPS = (
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
)
_NUMERIC_OPS = (
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
)
_TIMESTAMP_OPS = (
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
)
_IS_OPS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")

#: Comparison operator -> (what its operand must be, a check of that operand).
#: Every ``*Path`` variant takes a path and is added below.
OPERATORS: dict[str, tuple[str, Any]] = {
    **{op: ("a string", lambda v: isinstance(v, str)) for op in (*_STRING_OPS, "StringMatches")},
    **{op: ("a number", is_number) for op in _NUMERIC_OPS},
    **{op: (TIMESTAMP_FORM, is_timestamp) for op in _TIMESTAMP_OPS},
    "BooleanEquals": ("a boolean", lambda v: isinstance(v, bool)),
    **{op: ("a boolean", lambda v: isinstance(v, bool)) for op in _IS_OPS},
}
PATH_OPERATORS = frozenset(
    f"{op}Path" for op in (*_STRING_OPS, *_NUMERIC_OPS, *_TIMESTAMP_OPS, "BooleanEquals")
)
_BOOLEAN_OPS = ("And", "Or", "Not")
#: The fields of a JSONata Choice rule that a JSONPath rule does not have.
_JSONATA_RULE_FIELDS = ("Condition", "Output")
_ALL_OPS = frozenset(OPERATORS) | PATH_OPERATORS
#: The fields of a JSONPath Choice rule that a JSONata rule does not have.
_JSONPATH_RULE_FIELDS = frozenset({"Variable", *_BOOLEAN_OPS, *_ALL_OPS})


def check_choice(
    ctx: Context, state: dict[str, Any], loc: str, language: str, targets: list[tuple[str, str]]
) -> None:
    """``Choices`` and ``Default``; their targets go to ``targets``."""
    choices = state.get("Choices")
    here = pointer(loc, "Choices")
    if "Choices" in state and (not isinstance(choices, list) or not choices):
        ctx.error(here, "The field 'Choices' must be a non-empty array of Choice Rules")
    elif isinstance(choices, list):
        for index, rule in enumerate(choices):
            rule_loc = pointer(here, index)
            if not expect_object(ctx, rule, rule_loc, "A Choice Rule"):
                continue
            if language == JSONATA:
                _check_jsonata_rule(ctx, rule, rule_loc)
            else:
                _check_jsonpath_rule(ctx, rule, rule_loc, top=True)
            nxt = rule.get("Next")
            if nxt is not None and expect_string(
                ctx, nxt, pointer(rule_loc, "Next"), "Next", empty=False
            ):
                targets.append((nxt, pointer(rule_loc, "Next")))
            if "Assign" in rule:
                check_assign(ctx, rule["Assign"], pointer(rule_loc, "Assign"), language)
    if "Default" in state and expect_string(
        ctx, state["Default"], pointer(loc, "Default"), "Default", empty=False
    ):
        targets.append((state["Default"], pointer(loc, "Default")))


def _check_jsonata_rule(ctx: Context, rule: dict[str, Any], loc: str) -> None:
    jsonpath = [key for key in rule if key in _JSONPATH_RULE_FIELDS]
    for key in jsonpath:  # a JSONPath rule in a JSONata state: said once per field
        ctx.error(
            loc,
            f"The QueryLanguage is set to 'JSONata', but field '{key}' is only "
            "supported for the 'JSONPath' QueryLanguage",
        )
    rest = {key: value for key, value in rule.items() if key not in jsonpath}
    required = ("Next",) if jsonpath else ("Condition", "Next")
    check_fields(ctx, rest, loc, ("Condition", "Next", "Comment", "Assign", "Output"), required)
    condition = rule.get("Condition")
    if (
        "Condition" in rule
        and not isinstance(condition, bool)
        and not (isinstance(condition, str) and is_expression(condition))
    ):
        ctx.error(
            pointer(loc, "Condition"),
            "The value for the field 'Condition' must be a JSONata expression ({% ... %}) "
            f"or a boolean, not {shown(condition)}",
        )
    for name in ("Condition", "Assign", "Output"):
        if name in rule:
            check_expressions(ctx, rule[name], pointer(loc, name))


def _check_jsonpath_rule(ctx: Context, rule: dict[str, Any], loc: str, *, top: bool) -> None:
    """One JSONPath rule: a boolean combination or exactly one comparison."""
    extra = ("Next", "Comment", "Assign") if top else ("Comment",)
    allowed = (*extra, "Variable", *_BOOLEAN_OPS, *_ALL_OPS)
    jsonata = [key for key in _JSONATA_RULE_FIELDS if key in rule]
    for key in jsonata:  # a JSONata rule (Condition) in a JSONPath state: said once
        ctx.error(
            loc,
            f"The QueryLanguage is set to 'JSONPath', but field '{key}' is only "
            "supported for the 'JSONata' QueryLanguage",
        )
    rest = {key: value for key, value in rule.items() if key not in jsonata}
    check_fields(ctx, rest, loc, allowed, ("Next",) if top else ())
    if "Comment" in rule:
        expect_string(ctx, rule["Comment"], pointer(loc, "Comment"), "Comment")
    booleans = [op for op in _BOOLEAN_OPS if op in rule]
    comparisons = [op for op in rule if op in _ALL_OPS]
    if jsonata and not booleans and not comparisons:  # the mismatch says it all
        if "Variable" in rule:
            check_path(ctx, rule["Variable"], pointer(loc, "Variable"), "Variable")
        return
    if len(booleans) + len(comparisons) != 1:
        found = ", ".join(booleans + comparisons) or "none"
        ctx.error(
            loc,
            f"A Choice Rule must have exactly one comparison operator or "
            f"And/Or/Not (found: {found})",
        )
    if booleans:
        if "Variable" in rule:
            ctx.error(
                pointer(loc, "Variable"),
                "'Variable' cannot be used with a boolean operator (And, Or, Not)",
            )
        for op in booleans:
            _check_boolean(ctx, rule[op], pointer(loc, op), op)
        return
    if "Variable" not in rule:
        ctx.error(loc, "These fields are required: [Variable]")
    else:
        check_path(ctx, rule["Variable"], pointer(loc, "Variable"), "Variable")
    for op in comparisons:
        value = rule[op]
        here = pointer(loc, op)
        if op in PATH_OPERATORS:
            check_path(ctx, value, here, op)
            continue
        kind, ok = OPERATORS[op]
        if not ok(value):
            ctx.error(
                here,
                f"The value for the field '{op}' must be {kind}, not {type_name(value)} {shown(value)}",
            )


def _check_boolean(ctx: Context, value: Any, loc: str, op: str) -> None:
    if op == "Not":
        if expect_object(ctx, value, loc, "The value of 'Not'"):
            _check_jsonpath_rule(ctx, value, loc, top=False)
        return
    if not isinstance(value, list) or not value:
        ctx.error(loc, f"The value for the field '{op}' must be a non-empty array of Choice Rules")
        return
    for index, rule in enumerate(value):
        here = pointer(loc, index)
        if expect_object(ctx, rule, here, "A Choice Rule"):
            _check_jsonpath_rule(ctx, rule, here, top=False)
