"""Values crossing the boundary between JSON and the JSONata evaluator.

``jsonata-python`` uses ``None`` for JSONata's *undefined* and a sentinel for
JSON ``null``, and returns its own list subclasses (sequences, lazy ranges).
This module converts plain JSON into the evaluator's representation (a fresh
copy, so an expression can never change the caller's data) and converts
results back into plain JSON, with integral numbers as ``int`` as AWS prints
them.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from jsonata.utils import Utils

from montemap.errors import MontemapError
from montemap.jsontypes import json_type_name

#: JSONata's ``null`` inside the evaluator.
JSONATA_NULL: Final[object] = Utils.NULL_VALUE

#: Largest magnitude a JSONata (IEEE double) number prints without an exponent.
_MAX_PLAIN_INTEGER: Final[float] = 1e21


class UnsupportedResult(MontemapError):
    """A result that has no JSON form (a function, a regex, a non-finite number)."""


def to_jsonata(value: Any) -> Any:
    """A deep copy of the JSON ``value`` in the evaluator's representation."""
    if value is None:
        return JSONATA_NULL
    if isinstance(value, dict):
        return {key: to_jsonata(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonata(item) for item in value]
    return value


def from_jsonata(value: Any) -> Any:
    """The plain JSON form of an evaluator result that is not undefined.

    Undefined members of objects are dropped (JSONata's object constructor
    never keeps them); an undefined array member becomes ``null``.

    Raises :class:`UnsupportedResult` for values JSON cannot hold.
    """
    if value is None or value is JSONATA_NULL:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        # The evaluator turns integral literals such as 1e300 into huge ints;
        # JSONata numbers are doubles and print with an exponent from 1e21.
        return value if abs(value) < _MAX_PLAIN_INTEGER else float(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {_key(key): from_jsonata(item) for key, item in value.items() if item is not None}
    if isinstance(value, Utils.RangeList):
        return [from_jsonata(value[index]) for index in range(len(value))]
    if isinstance(value, list):
        return [from_jsonata(item) for item in value]
    raise UnsupportedResult(type(value).__name__)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise UnsupportedResult(f"object key of type {type(key).__name__}")
    return key


def _number(value: float) -> int | float:
    if not math.isfinite(value):
        raise UnsupportedResult(repr(value))
    if value.is_integer() and abs(value) < _MAX_PLAIN_INTEGER:
        return int(value)
    return value


type_name = json_type_name


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text, the way AWS quotes values in causes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text_size(value: Any, budget: int) -> int:
    """Characters plus items in ``value``, counting shared parts each time; stops past ``budget``.

    Returns a number above ``budget`` as soon as the count passes it, so the
    cost is at most proportional to ``budget``.
    """
    total = 0
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += len(item) + 2
            for key, member in item.items():
                total += len(key) if isinstance(key, str) else 1
                pending.append(member)
        elif isinstance(item, list | tuple):
            total += len(item) + 2
            if total > budget:
                return total
            pending.extend(item)
        else:
            total += 8
        if total > budget:
            return total
    return total
