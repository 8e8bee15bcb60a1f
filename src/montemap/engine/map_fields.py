"""The Map state's evaluated fields, shared by inline and distributed Maps.

The items to iterate over (``ItemsPath``/``Items``/the input), integer and
float fields with their ``...Path`` variants (``MaxConcurrency``,
``ToleratedFailureCount``, ``ToleratedFailurePercentage``) and the
``ItemSelector`` applied to each item, with the errors AWS reports for each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from montemap.asl.payload import compiled_payload
from montemap.engine.dataflow import StateData, dumps
from montemap.errors import QUERY_EVALUATION_ERROR, RUNTIME, EvaluationError
from montemap.jsontypes import json_type_name

if TYPE_CHECKING:
    from montemap.engine.run import ExecutionRun

__all__ = [
    "int_field",
    "item_selector",
    "jsonpath_selection",
    "map_items",
    "select_item",
    "tolerances",
]


async def int_field(
    run: ExecutionRun,
    state: Mapping[str, Any],
    data: StateData,
    effective: Any,
    key: str,
    default: int,
) -> int:
    """The non-negative integer field ``key`` (or ``keyPath``) of ``state``, else
    ``default``; a negative value (from the input or an expression) is refused, as
    the definition's own ``MaxConcurrency`` is."""
    if key in state:
        value = state[key]
        if data.jsonata:
            value = await data.eval_jsonata(value, key)
        value = _whole(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                f"The {key} field must be a non-negative integer, but was: {dumps(value)}",
            )
        return value
    path_key = f"{key}Path"
    if path_key in state:
        path = state[path_key]
        value = data.path(path, effective, path_key)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or int(value) != value
            or value < 0
        ):
            shown = value if isinstance(value, str) else dumps(value)
            raise EvaluationError(
                RUNTIME,
                f'The {path_key} field refers to value "{shown}" which is not a valid integer: {path}',
            )
        return int(value)
    return default


async def _float_field(
    state: Mapping[str, Any], data: StateData, effective: Any, key: str
) -> float | None:
    if key in state:
        value = state[key]
        if data.jsonata:
            value = await data.eval_jsonata(value, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EvaluationError(
                QUERY_EVALUATION_ERROR if data.jsonata else RUNTIME,
                f"The {key} field must be a number, but was: {dumps(value)}",
            )
        return float(value)
    path_key = f"{key}Path"
    if path_key in state:
        path = state[path_key]
        value = _numeric_string(data.path(path, effective, path_key), float)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            shown = value if isinstance(value, str) else dumps(value)
            raise EvaluationError(
                RUNTIME,
                f'The {path_key} field refers to value "{shown}" which is not a valid float: {path}',
            )
        return float(value)
    return None


def _whole(value: Any) -> Any:
    """``value``, with a whole-valued float (``2.0``) as the integer it is: JSON has one
    number type, and the definition's own ``2.0`` is accepted at create time as 2."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _numeric_string(value: Any, kind: type) -> Any:
    """Path values may be numbers written as strings ("1"), as AWS accepts."""
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return value
    return value


async def map_items(state: Mapping[str, Any], data: StateData, effective: Any) -> list[Any]:
    """The array a Map iterates over (ItemsPath / Items / the input)."""
    if data.jsonata:
        if "Items" in state:
            expr = state["Items"]
            items = await data.eval_jsonata(expr, "Items")
            if not isinstance(items, list):
                raise EvaluationError(
                    QUERY_EVALUATION_ERROR,
                    f"The JSONata expression '{_strip(expr)}' specified for the field 'Items' returned "
                    f"an unexpected result type. Expected 'array', but was '{_json_type(items)}' for "
                    f"value: {dumps(items)}",
                )
            return items
        items = data.raw_input
        if not isinstance(items, list):
            raise EvaluationError(
                QUERY_EVALUATION_ERROR, f"Map state input must be an array but was: {dumps(items)}"
            )
        return items
    items = data.path(state.get("ItemsPath", "$"), effective, "ItemsPath")
    if not isinstance(items, list):
        raise EvaluationError(RUNTIME, f"Map state input must be an array but was: {dumps(items)}")
    return items


def _strip(expr: Any) -> str:
    text = str(expr)
    if text.startswith("{%") and text.endswith("%}"):
        text = text[2:-2].strip()
    return text


_json_type = json_type_name


async def tolerances(
    state: Mapping[str, Any], data: StateData, effective: Any
) -> tuple[int | None, float | None]:
    count: int | None = None
    if "ToleratedFailureCount" in state or "ToleratedFailureCountPath" in state:
        count = await _tolerated_count(state, data, effective)
    percentage = await _float_field(state, data, effective, "ToleratedFailurePercentage")
    if percentage is not None and not 0 <= percentage <= 100:
        raise EvaluationError(RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
    return count, percentage


async def _tolerated_count(state: Mapping[str, Any], data: StateData, effective: Any) -> int:
    key = "ToleratedFailureCount"
    if key in state:
        value = state[key]
        if data.jsonata:
            value = await data.eval_jsonata(value, key)
    else:
        path = state[f"{key}Path"]
        value = _whole(_numeric_string(data.path(path, effective, f"{key}Path"), int))
        if isinstance(value, bool) or not isinstance(value, int):
            shown = value if isinstance(value, str) else dumps(value)
            raise EvaluationError(
                RUNTIME,
                f'The {key}Path field refers to value "{shown}" which is not a valid integer: {path}',
            )
    value = _whole(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise EvaluationError(RUNTIME, f"{key} must be an integer.")
    if value < 0:
        raise EvaluationError(RUNTIME, "ToleratedFailureCount cannot be negative.")
    return value


def item_selector(state: Mapping[str, Any]) -> Any:
    if "ItemSelector" in state:
        return state["ItemSelector"]
    return state.get("Parameters")


def jsonpath_selection(
    state: Mapping[str, Any], data: StateData, effective: Any
) -> Callable[[int, Any], Any] | None:
    """A JSONPath ``ItemSelector`` as a plain function of (index, item), giving what
    :func:`select_item` gives without a coroutine per item; None without a selector or
    in JSONata (evaluated off the event loop)."""
    selector = item_selector(state)
    if selector is None or data.jsonata:
        return None
    compiled = compiled_payload(selector)

    def select(index: int, value: Any) -> Any:
        context = {**data.context, "Map": {"Item": {"Index": index, "Value": value}}}
        return compiled(effective, context, data.variables)

    return select


async def select_item(
    state: Mapping[str, Any], data: StateData, effective: Any, index: int, value: Any
) -> Any:
    selector = item_selector(state)
    if selector is None:
        return value
    item = {"Index": index, "Value": value}
    if data.jsonata:
        saved = data.context
        data.context = {**saved, "Map": {"Item": item}}
        try:
            return await data.eval_jsonata(selector, "ItemSelector")
        finally:
            data.context = saved
    # What ``data.payload`` gives with ``$$.Map.Item`` in the context; the template is
    # compiled once (the same ``ItemSelector`` is evaluated for every item).
    context = {**data.context, "Map": {"Item": item}}
    return compiled_payload(selector)(effective, context, data.variables)
