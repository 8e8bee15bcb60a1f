"""Validation of the values inside states: paths, payload templates, Assign, JSONata.

The syntax of each language is checked by the module that evaluates it
(:mod:`montemap.asl.jsonpath`, :mod:`montemap.asl.intrinsics`,
:mod:`montemap.asl.jsonata_query`), so the validator and the interpreter agree
on what is valid.
"""

from __future__ import annotations

from typing import Any

from montemap.asl.intrinsic_syntax import is_intrinsic
from montemap.asl.intrinsics import validate_intrinsic
from montemap.asl.jsonata_query import expression_body, is_expression, syntax_error
from montemap.asl.jsonpath_parser import is_reference_path, validate_path
from montemap.asl.validate_base import (
    INVALID_JSONATA_EXPRESSION,
    JSONATA,
    JSONPATH,
    NO_DOLLAR,
    Context,
    expect_object,
    pointer,
    shown,
    type_name,
)

#: The longest variable name Step Functions accepts.
MAX_VARIABLE_NAME = 80
#: Variable names the service reserves (``$states`` in JSONata).
RESERVED_VARIABLES = frozenset({"states"})


def check_path(
    ctx: Context,
    value: Any,
    loc: str,
    what: str,
    *,
    reference: bool = False,
    nullable: bool = False,
    intrinsic: bool = False,
    result: bool = False,
) -> None:
    """A path field: a valid JSONPath (``reference``: definite; ``result``: a
    place in the state's data, so not the context object or a variable);
    ``null`` when ``nullable``; an intrinsic function call when ``intrinsic``."""
    if value is None and nullable:
        return
    if not isinstance(value, str):
        ctx.error(loc, f"The value for the field '{what}' must be a string, not {type_name(value)}")
        return
    if intrinsic and is_intrinsic(value):
        problem = validate_intrinsic(value)
        if problem:
            ctx.error(
                loc,
                f"The value for the field '{what}' must be a valid intrinsic function: {problem}",
            )
        return
    problem = validate_path(value)
    if problem:
        kind = "JSONPath or intrinsic function" if intrinsic else "JSONPath"
        ctx.error(loc, f"The value for the field '{what}' must be a valid {kind}: {problem}")
        return
    if result and not (value == "$" or value.startswith(("$.", "$["))):
        ctx.error(
            loc,
            f"The value for the field '{what}' must be a valid ReferencePath into the state's "
            f"data (starting with '$.'), not {shown(value)}",
        )
    elif (reference or result) and not is_reference_path(value):
        ctx.error(
            loc,
            f"The value for the field '{what}' must be a valid ReferencePath "
            f"(no wildcards, filters, slices or unions): {value!r}",
        )


def looks_dynamic(value: str) -> bool:
    """A plain string that looks like a path or intrinsic call (NO_DOLLAR/NO_PATH hint)."""
    return value.startswith(("$.", "$$.", "$[")) or (
        value.startswith("States.") and value.endswith(")") and "(" in value
    )


def check_template(ctx: Context, value: Any, loc: str) -> None:
    """A JSONPath payload template (Parameters, ResultSelector, ItemSelector...):
    every ``"key.$"`` takes a path or an intrinsic function call."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = pointer(loc, key)
            if key.endswith(".$"):
                check_path(ctx, item, here, key, intrinsic=True)
                continue
            if isinstance(item, str) and looks_dynamic(item):
                ctx.warning(
                    here,
                    f"The value of the field '{key}' looks like a JSONPath or an intrinsic "
                    f"function but the field name does not end with '.$'",
                    NO_DOLLAR,
                )
            check_template(ctx, item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_template(ctx, item, pointer(loc, index))


def variable_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a variable, or None."""
    if not name:
        return "a variable name must not be empty"
    if len(name) > MAX_VARIABLE_NAME:
        return f"a variable name must be at most {MAX_VARIABLE_NAME} characters long"
    if name in RESERVED_VARIABLES:
        return f"'{name}' is a reserved name"
    if not name.isidentifier():
        return (
            "a variable name must start with a letter or '_' and contain only "
            "letters, digits and '_'"
        )
    return None


def check_assign(ctx: Context, value: Any, loc: str, language: str) -> None:
    """An ``Assign`` block: valid variable names; in JSONPath, ``"name.$"`` values
    are paths or intrinsic calls and nested values are payload templates."""
    if not expect_object(ctx, value, loc, "'Assign'"):
        return
    seen: set[str] = set()
    for key, item in value.items():
        here = pointer(loc, key)
        dynamic = language == JSONPATH and key.endswith(".$")
        name = key[:-2] if dynamic else key
        problem = variable_name_problem(name)
        if problem:
            ctx.error(here, f"Invalid variable name '{name}': {problem}")
        elif name in seen:
            ctx.error(here, f"The variable '{name}' is assigned more than once")
        seen.add(name)
        if language != JSONPATH:
            continue
        if dynamic:
            check_path(ctx, item, here, key, intrinsic=True)
        else:
            check_template(ctx, item, here)


def check_expressions(ctx: Context, value: Any, loc: str) -> None:
    """Every ``"{% ... %}"`` string inside ``value`` compiles as JSONata."""
    if isinstance(value, str):
        if is_expression(value):
            problem = syntax_error(expression_body(value))
            if problem:
                ctx.error(loc, problem, INVALID_JSONATA_EXPRESSION)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_expressions(ctx, item, pointer(loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_expressions(ctx, item, pointer(loc, index))


def is_dynamic(value: Any, language: str) -> bool:
    """Whether a field's value is a JSONata expression (JSONata states only), so
    its type can only be checked when it runs."""
    return language == JSONATA and isinstance(value, str) and is_expression(value)
