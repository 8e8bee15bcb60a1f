"""Payload templates of the JSONPath query language.

``Parameters``, ``ItemSelector``, ``ResultSelector`` and the JSONPath flavour
of ``Arguments`` are JSON templates: a key ending in ``.$`` takes its value
from a path (``$...`` on the data, ``$$...`` on the context object,
``$name...`` on a variable) or an intrinsic function call, and appears in the
output without the ``.$``; every other value is copied. Objects and arrays are
processed recursively.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from montemap import errors
from montemap.asl.intrinsic_syntax import is_intrinsic
from montemap.asl.intrinsics import evaluate_intrinsic
from montemap.asl.json_text import to_json_text
from montemap.asl.jsonpath import compile_query, query
from montemap.asl.jsonpath_syntax import PathError

__all__ = [
    "CompiledPayload",
    "compile_payload",
    "compiled_payload",
    "evaluate_payload",
    "is_dynamic_key",
    "output_key",
]

#: A compiled template: (data, context, variables) -> the payload.
CompiledPayload = Callable[[Any, Any, "Mapping[str, Any] | None"], Any]
#: How many templates :func:`compiled_payload` keeps compiled.
COMPILED_TEMPLATES = 256

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


# Compiled templates -------------------------------------------------------------
_compiled: dict[int, tuple[Any, CompiledPayload]] = {}


def compiled_payload(template: Any) -> CompiledPayload:
    """:func:`compile_payload` of ``template``, kept for the last
    :data:`COMPILED_TEMPLATES` templates by identity: for a template evaluated again and
    again (a Map's ``ItemSelector``, once per item). A state definition's templates
    are never changed in place. The entry holds the template, so its ``id`` cannot be
    reused by another object while the entry lives."""
    key = id(template)
    entry = _compiled.get(key)
    if entry is not None and entry[0] is template:
        return entry[1]
    compiled = compile_payload(template)
    if len(_compiled) >= COMPILED_TEMPLATES:
        try:
            del _compiled[next(iter(_compiled))]  # the oldest
        except (KeyError, RuntimeError, StopIteration):  # another thread changed it
            pass
    _compiled[key] = (template, compiled)
    return compiled


def compile_payload(template: Any) -> CompiledPayload:
    """``template`` compiled once: a function giving what ``evaluate_payload(template,
    data, context=..., variables=...)`` gives (equal new objects, the same errors)."""
    if isinstance(template, dict):
        fields: list[tuple[str, CompiledPayload | None, Any]] = []
        for key, value in template.items():
            if is_dynamic_key(key):
                fields.append((output_key(key), _compile_dynamic(key, value), None))
            elif isinstance(value, dict | list):
                fields.append((key, compile_payload(value), None))
            else:
                fields.append((key, None, value))

        def build_object(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
            result: dict[str, Any] = {}
            for key, part, constant in fields:
                result[key] = constant if part is None else part(data, context, variables)
            return result

        return build_object
    if isinstance(template, list):
        parts = [compile_payload(v) for v in template]

        def build_array(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
            return [part(data, context, variables) for part in parts]

        return build_array

    def constant(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
        return template

    return constant


def _compile_dynamic(key: str, expr: Any) -> CompiledPayload:
    """One ``.$`` field compiled: what :func:`_dynamic` gives or raises for it."""
    if not isinstance(expr, str) or is_intrinsic(expr):

        def general(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
            return _dynamic(key, expr, data, context, variables)

        return general
    path = compile_query(expr)
    from_context = expr.startswith("$$")

    def dynamic_path(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
        try:
            return path(data, context, variables)
        except PathError:
            source = context if from_context else data
            raise errors.EvaluationError(
                errors.RUNTIME,
                f"The JSONPath '{expr}' specified for the field '{key}' could not be found "
                f"in the input '{to_json_text(source)}'",
            )

    return dynamic_path
