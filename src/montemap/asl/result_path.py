"""ResultPath: placing a state's result into (a copy of) its input."""

from __future__ import annotations

import copy
from typing import Any

from montemap import errors
from montemap.asl.json_text import to_json_text
from montemap.asl.jsonpath_parser import is_reference_path, parse_path
from montemap.asl.jsonpath_syntax import Names, PathError

__all__ = ["set_result"]

_MISSING: Any = object()


def _result_path_failure(result_path: str, data: Any) -> errors.EvaluationError:
    return errors.EvaluationError(
        errors.RESULT_PATH_MATCH_FAILURE,
        f"Unable to apply ReferencePath {result_path} to input {to_json_text(data)}",
    )


def set_result(data: Any, result_path: str | None, result: Any) -> Any:
    """Apply a ResultPath: place ``result`` into (a copy of) ``data``.

    ``None`` discards the result, ``"$"`` replaces the data, ``"$.a.b"``
    returns a copy of ``data`` (containers on the path copied, the rest
    shared) with ``result`` at ``a.b``, creating missing objects on the way.
    Raises :class:`~montemap.errors.EvaluationError`
    (``States.ResultPathMatchFailure``) where a step meets a non-object, or
    an index meets a non-array or a missing element.
    """
    if result_path is None:
        return data
    parsed = parse_path(result_path)
    if parsed.root != "$" or not is_reference_path(result_path):
        raise PathError(result_path, "ResultPath must be a reference path starting with '$'")
    steps: list[str | int] = []
    for sel in parsed.selectors:
        steps.extend(sel.names if isinstance(sel, Names) else sel.indexes)  # type: ignore[union-attr]
    if not steps:
        return result
    root = _shallow_copy(data)
    node = root
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise _result_path_failure(result_path, data)
            if last:
                node[step] = result
            else:
                child = node.get(step, _MISSING)
                node[step] = {} if child is _MISSING else _shallow_copy(child)
                node = node[step]
        else:
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                raise _result_path_failure(result_path, data)
            if last:
                node[step] = result
            else:
                node[step] = _shallow_copy(node[step])
                node = node[step]
    return root


def _shallow_copy(value: Any) -> Any:
    return copy.copy(value) if isinstance(value, dict | list) else value
