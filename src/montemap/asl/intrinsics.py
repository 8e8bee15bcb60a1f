"""The 18 intrinsic functions of the ASL JSONPath query language.

An invocation such as ``States.Format('Hi {}', $.name)`` is tokenized and
parsed into a small tree (:class:`Call` with literal, path and nested-call
arguments), cached per text, then evaluated against the state's data, the
context object and the variables. String literals use single quotes and the
escapes ``\\'``, ``\\{``, ``\\}`` and ``\\\\``; an escaped brace in the template
of ``States.Format`` is a literal brace, not a placeholder.

Failures of a function on its arguments (types, ranges, limits) raise
:class:`~montemap.errors.EvaluationError` with the catchable
``States.IntrinsicFailure``; a malformed or unknown call, and a path argument
that matches nothing, raise it with ``States.Runtime``, as a payload template
path does.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import functools
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from montemap import errors
from montemap.asl.jsonpath import PathError, query, to_json_text, validate_path
from montemap.jsontypes import json_type_name

__all__ = [
    "FUNCTION_NAMES",
    "MAX_ENCODE_CHARS",
    "MAX_NESTING",
    "MAX_RANGE_ITEMS",
    "Call",
    "IntrinsicSyntaxError",
    "LiteralArg",
    "PathArg",
    "StringArg",
    "evaluate_intrinsic",
    "format_value",
    "is_intrinsic",
    "parse_intrinsic",
    "validate_intrinsic",
]

#: AWS allows up to 10 intrinsic functions nested within one field.
MAX_NESTING = 10
#: Input limit of States.Base64Encode, Base64Decode and Hash, in characters.
MAX_ENCODE_CHARS = 10_000
#: The most items States.ArrayRange may produce.
MAX_RANGE_ITEMS = 1000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class StringArg:
    """A quoted string literal; ``parts`` are its pieces between unescaped ``{}``."""

    value: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class LiteralArg:
    """A number, ``true``, ``false`` or ``null``."""

    value: Any


@dataclass(frozen=True)
class PathArg:
    """A path argument: ``$...``, ``$$...`` or ``$variable...``."""

    path: str


@dataclass(frozen=True)
class Call:
    """An intrinsic function invocation."""

    name: str
    args: tuple[Arg, ...]

    def depth(self) -> int:
        """How many calls are nested here, this one included."""
        inner = [a.depth() for a in self.args if isinstance(a, Call)]
        return 1 + max(inner, default=0)


Arg = StringArg | LiteralArg | PathArg | Call


class IntrinsicSyntaxError(Exception):
    """An invocation that does not parse."""


_NAME = re.compile(r"States\.[A-Za-z0-9]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_KEYWORDS = {"true": True, "false": False, "null": None}
_ESCAPABLE = "'{}\\"


#: How deep calls may nest before parsing gives up (validation then allows MAX_NESTING).
_PARSE_DEPTH = 64


class _Parser:
    """A recursive-descent parser for one invocation."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def error(self, message: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{message} at position {self.pos} of '{self.text}'")

    def call(self) -> Call:
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.error("expected an intrinsic function name (States.<Name>)")
        self.pos = match.end()
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] != "(":
            raise self.error(f"expected '(' after {match.group()}")
        self.pos += 1
        args: list[Arg] = []
        self.skip_ws()
        if self.text[self.pos : self.pos + 1] == ")":
            self.pos += 1
            return Call(match.group(), ())
        while True:
            args.append(self.argument())
            self.skip_ws()
            char = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if char == ")":
                return Call(match.group(), tuple(args))
            if char != ",":
                self.pos -= 1
                raise self.error("expected ',' or ')'")

    def argument(self) -> Arg:
        self.skip_ws()
        char = self.text[self.pos : self.pos + 1]
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if self.text.startswith("States.", self.pos):
            self.depth += 1
            if self.depth > _PARSE_DEPTH:
                raise self.error(f"intrinsic functions are nested more than {MAX_NESTING} deep")
            call = self.call()
            self.depth -= 1
            return call
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            text = number.group()
            return LiteralArg(
                int(text) if number.group(1) is None and "e" not in text.lower() else float(text)
            )
        for word, value in _KEYWORDS.items():
            if re.match(rf"{word}\b", self.text[self.pos :]):
                self.pos += len(word)
                return LiteralArg(value)
        raise self.error(
            "expected an argument (a 'string', a number, true, false, null, a path or a call)"
        )

    def string(self) -> StringArg:
        self.pos += 1
        parts: list[str] = []
        current: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error("unterminated string literal")
            char = self.text[self.pos]
            if char == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt == "" or nxt not in _ESCAPABLE:
                    raise self.error("open escape '\\' (escape only \\', \\{, \\} and \\\\)")
                current.append(nxt)
                self.pos += 2
                continue
            if char == "'":
                self.pos += 1
                parts.append("".join(current))
                return StringArg("{}".join(parts), tuple(parts))
            if char == "{" and self.text[self.pos + 1 : self.pos + 2] == "}":
                parts.append("".join(current))
                current = []
                self.pos += 2
                continue
            current.append(char)
            self.pos += 1

    def path(self) -> PathArg:
        start = self.pos
        depth = 0
        quote: str | None = None
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote:
                if char == "\\":
                    self.pos += 1
                elif char == quote:
                    quote = None
            elif char in "'\"" and depth > 0:
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            self.pos += 1
        path = self.text[start : self.pos].rstrip()
        problem = validate_path(path)
        if problem:
            raise self.error(f"invalid path '{path}': {problem}")
        return PathArg(path)


@functools.lru_cache(maxsize=2048)
def _parse_cached(expr: str) -> Call | str:
    parser = _Parser(expr)
    try:
        parser.skip_ws()
        call = parser.call()
        parser.skip_ws()
        if parser.pos != len(expr):
            raise parser.error("unexpected text after the call")
    except IntrinsicSyntaxError as exc:
        return str(exc)
    return call


def parse_intrinsic(expr: str) -> Call:
    """Parse an invocation; raise :class:`IntrinsicSyntaxError` if it is malformed."""
    result = _parse_cached(expr)
    if isinstance(result, str):
        raise IntrinsicSyntaxError(result)
    return result


def is_intrinsic(s: str) -> bool:
    """Whether ``s`` is written as an intrinsic call (``States.Name(``...), valid or not."""
    return isinstance(s, str) and re.match(r"\s*States\.[A-Za-z0-9]+\s*\(", s) is not None


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Spec:
    min_args: int
    max_args: int | None
    impl: Callable[[Call, list[Any]], Any]


def _check_static(call: Call) -> str | None:
    spec = _FUNCTIONS.get(call.name)
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
    result = _parse_cached(expr)
    if isinstance(result, str):
        return result
    if result.depth() > MAX_NESTING:
        return f"intrinsic functions are nested more than {MAX_NESTING} deep"
    return _check_static(result)


# --------------------------------------------------------------------------- evaluation


def _fail(message: str) -> errors.EvaluationError:
    return errors.EvaluationError(errors.INTRINSIC_FAILURE, message)


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
    return _FUNCTIONS[call.name].impl(call, values)


# Argument checks --------------------------------------------------------------------


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
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _fail(f"States.StringToJson could not parse its argument as JSON: {message}")


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


_FUNCTIONS: dict[str, _Spec] = {
    "States.Format": _Spec(1, None, _format),
    "States.StringToJson": _Spec(1, 1, _string_to_json),
    "States.JsonToString": _Spec(1, 1, _json_to_string),
    "States.Array": _Spec(0, None, _array),
    "States.ArrayPartition": _Spec(2, 2, _array_partition),
    "States.ArrayContains": _Spec(2, 2, _array_contains),
    "States.ArrayRange": _Spec(3, 3, _array_range),
    "States.ArrayGetItem": _Spec(2, 2, _array_get_item),
    "States.ArrayLength": _Spec(1, 1, _array_length),
    "States.ArrayUnique": _Spec(1, 1, _array_unique),
    "States.Base64Encode": _Spec(1, 1, _base64_encode),
    "States.Base64Decode": _Spec(1, 1, _base64_decode),
    "States.Hash": _Spec(2, 2, _hash),
    "States.JsonMerge": _Spec(3, 3, _json_merge),
    "States.MathRandom": _Spec(2, 3, _math_random),
    "States.MathAdd": _Spec(2, 2, _math_add),
    "States.StringSplit": _Spec(2, 2, _string_split),
    "States.UUID": _Spec(0, 0, _uuid),
}

#: The names of all supported intrinsic functions.
FUNCTION_NAMES = frozenset(_FUNCTIONS)
