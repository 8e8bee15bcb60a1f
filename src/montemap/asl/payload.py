"""Payload templates of the JSONPath query language.

``Parameters``, ``ItemSelector``, ``ResultSelector`` and the JSONPath flavour
of ``Arguments`` are JSON templates: a key ending in ``.$`` takes its value
from a path (``$...`` on the data, ``$$...`` on the context object,
``$name...`` on a variable) or an intrinsic function call, and appears in the
output without the ``.$``; every other value is copied. Objects and arrays are
processed recursively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from montemap import errors
from montemap.asl.intrinsic_syntax import is_intrinsic
from montemap.asl.intrinsics import evaluate_intrinsic
from montemap.asl.json_text import to_json_text
from montemap.asl.jsonpath import query
from montemap.asl.jsonpath_syntax import PathError

__all__ = ["evaluate_payload", "is_dynamic_key", "output_key"]

_SUFFIX = ".$"


def is_dynamic_key(key: str) -> bool:
    """Whether a template key takes its value from a path or intrinsic (ends in ``.$``)."""
    return key.endswith(_SUFFIX) and len(key) > len(_SUFFIX)


def output_key(key: str) -> str:
    """The key a template field produces: without its ``.$`` suffix, if any."""
    return key[: -len(_SUFFIX)] if is_dynamic_key(key) else key


def evaluate_payload(
    template: Any,
    data: Any,
    *,
    context: Any,
    variables: Mapping[str, Any] | None = None,
) -> Any:
    """Build the payload that ``template`` describes from ``data``.

    Raises :class:`~montemap.errors.EvaluationError`: ``States.Runtime`` when
    a path matches nothing ("The JSONPath '$.x' specified for the field 'x.$'
    could not be found in the input '<input>'") or a ``.$`` field is not a
    string; ``States.IntrinsicFailure`` when an intrinsic function fails.
    """
    if isinstance(template, dict):
        result: dict[str, Any] = {}
        for key, value in template.items():
            if is_dynamic_key(key):
                result[output_key(key)] = _dynamic(key, value, data, context, variables)
            else:
                result[key] = evaluate_payload(value, data, context=context, variables=variables)
        return result
    if isinstance(template, list):
        return [evaluate_payload(v, data, context=context, variables=variables) for v in template]
    return template


def _dynamic(
    key: str,
    expr: Any,
    data: Any,
    context: Any,
    variables: Mapping[str, Any] | None,
) -> Any:
    if not isinstance(expr, str):
        raise errors.EvaluationError(
            errors.RUNTIME,
            f"The value for the field '{key}' must be a STRING that contains a JSONPath "
            f"or an intrinsic function, but was {to_json_text(expr)}",
        )
    if is_intrinsic(expr):
        return evaluate_intrinsic(expr, data, context=context, variables=variables, field=key)
    try:
        return query(expr, data, context=context, variables=variables)
    except PathError:
        source = context if expr.startswith("$$") else data
        raise errors.EvaluationError(
            errors.RUNTIME,
            f"The JSONPath '{expr}' specified for the field '{key}' could not be found "
            f"in the input '{to_json_text(source)}'",
        )
