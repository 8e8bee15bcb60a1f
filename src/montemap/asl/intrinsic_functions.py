"""The 18 ``States.*`` intrinsic functions: argument checks and implementations.

Each function takes the parsed :class:`~montemap.asl.intrinsic_syntax.Call`
(for its name and literal template) and its evaluated arguments. A failure on
the arguments (types, ranges, limits) raises
:class:`~montemap.errors.EvaluationError` with the catchable
``States.IntrinsicFailure``. :data:`FUNCTIONS` maps each name to its arity and
implementation.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import json
import math
import random
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from montemap import errors
from montemap.asl.intrinsic_syntax import Call, StringArg
from montemap.asl.json_text import to_json_text
from montemap.jsontypes import json_type_name

__all__ = [
    "FUNCTIONS",
    "FUNCTION_NAMES",
    "MAX_ENCODE_CHARS",
    "MAX_RANGE_ITEMS",
    "FunctionSpec",
    "format_value",
]

#: Input limit of States.Base64Encode, Base64Decode and Hash, in characters.
MAX_ENCODE_CHARS = 10_000
#: The most items States.ArrayRange may produce.
MAX_RANGE_ITEMS = 1000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
#: The deepest nesting States.StringToJson parses (as deep as the API accepts in a
#: request), and the largest integer it accepts (a double's range, as the API).
MAX_JSON_DEPTH = 512
_MAX_DOUBLE_INT = int(sys.float_info.max)
#: A JSON string (one left open runs to the end of the text, so a match once started
#: never fails and the scan stays linear) or a bracket.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


@dataclass(frozen=True)
class FunctionSpec:
    """A function's arity (``max_args`` None: unbounded) and implementation."""

    min_args: int
    max_args: int | None
    impl: Callable[[Call, list[Any]], Any]


def _fail(message: str) -> errors.EvaluationError:
    return errors.EvaluationError(errors.INTRINSIC_FAILURE, message)


# Argument checks ----------------------------------------------------------------


_kind = json_type_name


def _want(call: Call, position: int, value: Any, kind: str) -> None:
    if _kind(value) != kind:
        raise _fail(
            f"The {_ordinal(position)} argument of {call.name} must be a {kind}, "
            f"but was a {_kind(value)}: {to_json_text(value)}"
        )


def _ordinal(position: int) -> str:
    return ("first", "second", "third")[position] if position < 3 else f"#{position + 1}"


def _integer(call: Call, position: int, value: Any) -> int:
    _want(call, position, value, "number")
    if isinstance(value, float):
        if not value.is_integer():
            raise _fail(
                f"The {_ordinal(position)} argument of {call.name} must be an integer, "
                f"but was {to_json_text(value)}"
            )
        return int(value)
    return int(value)


def _java_round(value: int | float) -> int:
    """Java's ``Math.round``: half rounds up, toward positive infinity."""
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        raise _fail(f"cannot round {value} to an integer")
    return int(
        (decimal.Decimal(value) + decimal.Decimal("0.5")).to_integral_value(decimal.ROUND_FLOOR)
    )


def _rounded_int32(call: Call, position: int, value: Any) -> int:
    _want(call, position, value, "number")
    result = _java_round(value)
    if not _INT32_MIN <= result <= _INT32_MAX:
        raise _fail(
            f"The {_ordinal(position)} argument of {call.name} must be between "
            f"{_INT32_MIN} and {_INT32_MAX}, but was {to_json_text(value)}"
        )
    return result


def _limited_string(call: Call, value: Any) -> str:
    _want(call, 0, value, "string")
    if len(value) > MAX_ENCODE_CHARS:
        raise _fail(
            f"The input of {call.name} must be at most {MAX_ENCODE_CHARS} characters, "
            f"but has {len(value)}"
        )
    return str(value)


def _json_key(value: Any) -> str:
    """A canonical text for JSON equality: key order ignored, 1 == 1.0, true != 1."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        items = sorted((k, _json_key(v)) for k, v in value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_key(v) for v in value) + "]"
    return to_json_text(value)


# Rendering for States.Format ---------------------------------------------------------


def format_value(value: Any) -> str:
    """How States.Format prints a value: strings raw, containers as Java's toString."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={format_value(v)}" for k, v in value.items()) + "}"
    return to_json_text(value)


# The functions ---------------------------------------------------------------------------


def _format(call: Call, args: list[Any]) -> str:
    template = call.args[0]
    if isinstance(template, StringArg):
        parts = list(template.parts)
    else:
        _want(call, 0, args[0], "string")
        parts = str(args[0]).split("{}")
    values = args[1:]
    if len(parts) - 1 != len(values):
        raise _fail(
            f"States.Format template has {len(parts) - 1} placeholder(s) "
            f"but {len(values)} value(s) were given"
        )
    out = [parts[0]]
    for value, part in zip(values, parts[1:], strict=True):
        out.append(format_value(value))
        out.append(part)
    return "".join(out)


def _string_to_json(call: Call, args: list[Any]) -> Any:
    _want(call, 0, args[0], "string")
    text = str(args[0])
    if not text.strip():
        return None
    problem = "nested too deeply" if _json_depth(text) > MAX_JSON_DEPTH else None
    try:
        if problem is None:
            return json.loads(
                text, parse_constant=_reject_constant, parse_float=_finite, parse_int=_finite_int
            )
    except (json.JSONDecodeError, ValueError) as exc:
        problem = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
    except RecursionError:
        problem = "nested too deeply"
    raise _fail(f"States.StringToJson could not parse its argument as JSON: {problem}")


def _json_depth(text: str) -> int:
    """How deeply the arrays and objects of JSON ``text`` nest (brackets in strings
    not counted), checked before parsing so a deep document never recurses."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    for token in _STRING_OR_BRACKET.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _finite(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"the number {token} is out of range")
    return value


def _finite_int(token: str) -> int:
    value = int(token)
    if abs(value) > _MAX_DOUBLE_INT:
        raise ValueError(f"the number {token} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_to_string(call: Call, args: list[Any]) -> str:
    return to_json_text(args[0])


def _array(call: Call, args: list[Any]) -> list[Any]:
    return list(args)


def _array_partition(call: Call, args: list[Any]) -> list[Any]:
    _want(call, 0, args[0], "array")
    size = _integer(call, 1, args[1])
    if size <= 0:
        raise _fail(f"The chunk size of States.ArrayPartition must be positive, but was {size}")
    items: list[Any] = args[0]
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(call: Call, args: list[Any]) -> bool:
    _want(call, 0, args[0], "array")
    wanted = _json_key(args[1])
    return any(_json_key(item) == wanted for item in args[0])


def _array_range(call: Call, args: list[Any]) -> list[int]:
    start, end, step = (_integer(call, i, v) for i, v in enumerate(args))
    if step == 0:
        raise _fail("The step of States.ArrayRange must not be zero")
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE_ITEMS:
        raise _fail(
            f"States.ArrayRange would produce {count} items; at most {MAX_RANGE_ITEMS} are allowed"
        )
    return [start + i * step for i in range(count)]


def _array_get_item(call: Call, args: list[Any]) -> Any:
    _want(call, 0, args[0], "array")
    index = _integer(call, 1, args[1])
    items: list[Any] = args[0]
    if not 0 <= index < len(items):
        raise _fail(
            f"The index {index} is out of bounds for States.ArrayGetItem "
            f"on an array of {len(items)} item(s)"
        )
    return items[index]


def _array_length(call: Call, args: list[Any]) -> int:
    _want(call, 0, args[0], "array")
    return len(args[0])


def _array_unique(call: Call, args: list[Any]) -> list[Any]:
    _want(call, 0, args[0], "array")
    seen: set[str] = set()
    unique: list[Any] = []
    for item in args[0]:
        key = _json_key(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _base64_encode(call: Call, args: list[Any]) -> str:
    text = _limited_string(call, args[0])
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _base64_decode(call: Call, args: list[Any]) -> str:
    text = _limited_string(call, args[0])
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise _fail(f"States.Base64Decode could not decode its argument: {exc}")


def _hash(call: Call, args: list[Any]) -> str:
    text = _limited_string(call, args[0])
    _want(call, 1, args[1], "string")
    algorithm = _HASHES.get(args[1])
    if algorithm is None:
        raise _fail(
            f"States.Hash does not support the algorithm '{args[1]}'; "
            f"use one of {', '.join(_HASHES)}"
        )
    return hashlib.new(algorithm, text.encode("utf-8")).hexdigest()


def _json_merge(call: Call, args: list[Any]) -> dict[str, Any]:
    _want(call, 0, args[0], "object")
    _want(call, 1, args[1], "object")
    _want(call, 2, args[2], "boolean")
    if args[2]:
        raise _fail(
            "States.JsonMerge supports only shallow merging: its third argument must be false"
        )
    return {**args[0], **args[1]}


def _math_random(call: Call, args: list[Any]) -> int:
    start = _rounded_int32(call, 0, args[0])
    end = _rounded_int32(call, 1, args[1])
    if start >= end:
        raise _fail(f"The start of States.MathRandom ({start}) must be less than its end ({end})")
    generator = (
        random.Random(_rounded_int32(call, 2, args[2])) if len(args) > 2 else random.SystemRandom()
    )
    return generator.randrange(start, end)


def _math_add(call: Call, args: list[Any]) -> int:
    return _rounded_int32(call, 0, args[0]) + _rounded_int32(call, 1, args[1])


def _string_split(call: Call, args: list[Any]) -> list[str]:
    _want(call, 0, args[0], "string")
    _want(call, 1, args[1], "string")
    text, delimiters = str(args[0]), str(args[1])
    if not delimiters:
        return [text] if text else []
    pattern = "[" + "".join(re.escape(c) for c in delimiters) + "]"
    return [piece for piece in re.split(pattern, text) if piece]


def _uuid(call: Call, args: list[Any]) -> str:
    return str(uuid.uuid4())


FUNCTIONS: dict[str, FunctionSpec] = {
    "States.Format": FunctionSpec(1, None, _format),
    "States.StringToJson": FunctionSpec(1, 1, _string_to_json),
    "States.JsonToString": FunctionSpec(1, 1, _json_to_string),
    "States.Array": FunctionSpec(0, None, _array),
    "States.ArrayPartition": FunctionSpec(2, 2, _array_partition),
    "States.ArrayContains": FunctionSpec(2, 2, _array_contains),
    "States.ArrayRange": FunctionSpec(3, 3, _array_range),
    "States.ArrayGetItem": FunctionSpec(2, 2, _array_get_item),
    "States.ArrayLength": FunctionSpec(1, 1, _array_length),
    "States.ArrayUnique": FunctionSpec(1, 1, _array_unique),
    "States.Base64Encode": FunctionSpec(1, 1, _base64_encode),
    "States.Base64Decode": FunctionSpec(1, 1, _base64_decode),
    "States.Hash": FunctionSpec(2, 2, _hash),
    "States.JsonMerge": FunctionSpec(3, 3, _json_merge),
    "States.MathRandom": FunctionSpec(2, 3, _math_random),
    "States.MathAdd": FunctionSpec(2, 2, _math_add),
    "States.StringSplit": FunctionSpec(2, 2, _string_split),
    "States.UUID": FunctionSpec(0, 0, _uuid),
}

#: The names of all supported intrinsic functions.
FUNCTION_NAMES = frozenset(FUNCTIONS)
