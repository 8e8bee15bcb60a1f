"""Validation and evaluation of intrinsic function calls (``States.Format(...)`` etc.).

A call is parsed by :mod:`montemap.asl.intrinsic_syntax`, checked here against
the arity and argument rules of :mod:`montemap.asl.intrinsic_functions`, then
evaluated against the state's data, the context object and the variables.

Failures of a function on its arguments (types, ranges, limits) raise
:class:`~montemap.errors.EvaluationError` with the catchable
``States.IntrinsicFailure``; a malformed or unknown call, and a path argument
that matches nothing, raise it with ``States.Runtime``, as a payload template
path does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from montemap import errors
from montemap.asl.intrinsic_functions import FUNCTIONS
from montemap.asl.intrinsic_syntax import (
    MAX_NESTING,
    Arg,
    Call,
    LiteralArg,
    PathArg,
    StringArg,
    parse_intrinsic,
    parse_or_problem,
)
from montemap.asl.json_text import to_json_text
from montemap.asl.jsonpath import query
from montemap.asl.jsonpath_syntax import PathError

__all__ = ["evaluate_intrinsic", "validate_intrinsic"]


def _check_static(call: Call) -> str | None:
    spec = FUNCTIONS.get(call.name)
    if spec is None:
        return f"unknown intrinsic function '{call.name}'"
    count = len(call.args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        if spec.max_args == spec.min_args:
            expected = str(spec.min_args)
        elif spec.max_args is None:
            expected = f"at least {spec.min_args}"
        else:
            expected = f"{spec.min_args} to {spec.max_args}"
        return f"{call.name} takes {expected} argument(s) but {count} were given"
    if call.name == "States.JsonToString" and not isinstance(call.args[0], PathArg | Call):
        return "States.JsonToString takes a path argument"
    if call.name == "States.Format":
        template = call.args[0]
        if isinstance(template, LiteralArg):
            return "the first argument of States.Format must be a string"
        if isinstance(template, StringArg) and len(template.parts) - 1 != count - 1:
            return (
                f"States.Format template has {len(template.parts) - 1} placeholder(s) "
                f"but {count - 1} value(s) were given"
            )
    for arg in call.args:
        if isinstance(arg, Call):
            problem = _check_static(arg)
            if problem:
                return problem
    return None


def validate_intrinsic(expr: str) -> str | None:
    """None if ``expr`` is a well-formed call of known functions, else what is wrong."""
    if not isinstance(expr, str):
        return "an intrinsic function call must be a string"
    return _validate_cached(expr)


@functools.lru_cache(maxsize=2048)
def _validate_cached(expr: str) -> str | None:
    result = parse_or_problem(expr)
    if isinstance(result, str):
        return result
    if result.depth() > MAX_NESTING:
        return f"intrinsic functions are nested more than {MAX_NESTING} deep"
    return _check_static(result)


@dataclass(frozen=True)
class _Env:
    data: Any
    context: Any
    variables: Mapping[str, Any] | None
    field: str | None


def evaluate_intrinsic(
    expr: str,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any] | None = None,
    field: str | None = None,
) -> Any:
    """Evaluate the invocation ``expr`` against ``data``, the context object and variables.

    ``field`` (``"key.$"``) names the payload field, for error messages.
    """
    problem = validate_intrinsic(expr)
    if problem:
        raise errors.EvaluationError(
            errors.RUNTIME, f"Invalid intrinsic function expression '{expr}': {problem}"
        )
    call = parse_intrinsic(expr)
    return _eval_call(call, _Env(data, context, variables, field))


def _eval_arg(arg: Arg, env: _Env) -> Any:
    if isinstance(arg, StringArg | LiteralArg):
        return arg.value
    if isinstance(arg, Call):
        return _eval_call(arg, env)
    try:
        return query(arg.path, env.data, context=env.context, variables=env.variables)
    except PathError:
        where = f" specified for the field '{env.field}'" if env.field else ""
        source = env.context if arg.path.startswith("$$") else env.data
        raise errors.EvaluationError(
            errors.RUNTIME,
            f"The JSONPath '{arg.path}'{where} could not be found in the input "
            f"'{to_json_text(source)}'",
        )


def _eval_call(call: Call, env: _Env) -> Any:
    values = [_eval_arg(a, env) for a in call.args]
    return FUNCTIONS[call.name].impl(call, values)
