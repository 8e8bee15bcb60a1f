"""Shared machinery for definition validation: diagnostics, pointers, field checks.

Every validator appends :class:`~montemap.errors.Diagnostic` objects to one
:class:`Context` and never stops at the first problem. Locations are the
pointers AWS reports: ``/States/Foo/Next``, ``/States/C/Choices[0]/Next``, ``/``
for the document itself and empty where AWS gives none.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from montemap.errors import Diagnostic
from montemap.jsontypes import json_type_name

JSONPATH = "JSONPath"
JSONATA = "JSONata"
QUERY_LANGUAGES = (JSONPATH, JSONATA)

ERROR = "ERROR"
WARNING = "WARNING"

# Diagnostic codes, as ValidateStateMachineDefinition names them.
INVALID_JSON_DESCRIPTION = "INVALID_JSON_DESCRIPTION"
INVALID_JSONATA_EXPRESSION = "INVALID_JSONATA_EXPRESSION"
SCHEMA_VALIDATION_FAILED = "SCHEMA_VALIDATION_FAILED"
INVALID_RESOURCE = "INVALID_RESOURCE"
MISSING_END_STATE = "MISSING_END_STATE"
DUPLICATE_STATE_NAME = "DUPLICATE_STATE_NAME"
INVALID_STATE_NAME = "INVALID_STATE_NAME"
DUPLICATE_LABEL_NAME = "DUPLICATE_LABEL_NAME"
INVALID_LABEL_NAME = "INVALID_LABEL_NAME"
MISSING_TRANSITION_TARGET = "MISSING_TRANSITION_TARGET"
TOO_DEEPLY_NESTED = "TOO_DEEPLY_NESTED"
NO_DOLLAR = "NO_DOLLAR"
NO_PATH = "NO_PATH"
PASS_RESULT_IS_STATIC = "PASS_RESULT_IS_STATIC"

#: Upper bound AWS puts on most integer fields (seconds, attempts).
MAX_INT_FIELD = 99_999_999

#: RFC 3339 timestamps as Step Functions accepts them ("2016-03-14T01:59:00Z"): ASCII
#: digits, an uppercase T and Z (RFC 3339 allows lowercase; AWS's docs require uppercase),
#: and nothing after (not even a newline).
TIMESTAMP_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-]([0-9]{2}):([0-9]{2}))\Z"
)
#: How a timestamp must be written, for messages.
TIMESTAMP_FORM = (
    "an RFC 3339 timestamp with an uppercase 'T' between the date and the time and an "
    "uppercase 'Z' or a numeric offset, such as '2016-03-14T01:59:00Z'"
)


def is_timestamp(value: Any) -> bool:
    """Whether ``value`` is an RFC 3339 timestamp naming a real moment: the form of
    :data:`TIMESTAMP_RE` with a valid date, time (second 60 refused) and offset."""
    match = TIMESTAMP_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return match[9] is None or (int(match[9]) < 24 and int(match[10]) < 60)


#: Validates one nested state machine (Parallel branch, Map processor):
#: ``(ctx, machine, pointer, kind)`` with kind "branch" or "processor".
MachineValidator = Callable[["Context", Any, str, str], None]


def pointer(base: str, *parts: str | int) -> str:
    """``base`` extended with field names and array indexes, in AWS's notation:
    ``/States/C/Choices[0]/Next`` (``/`` is the root; names are not escaped)."""
    out = "" if base == "/" else base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f"/{part}"
    return out or "/"


@dataclass
class Context:
    """State of one validation run: the diagnostics and definition-wide facts."""

    top_language: str
    validate_machine: MachineValidator
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: state name -> pointer of its first definition (names are global).
    state_names: dict[str, str] = field(default_factory=dict)
    #: Distributed Map label -> pointer of its first use.
    labels: dict[str, str] = field(default_factory=dict)
    depth: int = 0

    def error(self, location: str, message: str, code: str = SCHEMA_VALIDATION_FAILED) -> None:
        self.diagnostics.append(Diagnostic(code, message, location, ERROR))

    def warning(self, location: str, message: str, code: str) -> None:
        self.diagnostics.append(Diagnostic(code, message, location, WARNING))


type_name = json_type_name


def shown(value: Any) -> str:
    """A value as a diagnostic quotes it: a string in single quotes, anything else
    as JSON (``false``, ``null``, ``{"a":1}``), never as Python writes it."""
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return type_name(value)


def is_number(value: Any) -> bool:
    """A JSON number (booleans excluded, NaN/infinity excluded)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and not math.isfinite(value))
    )


def is_int(value: Any) -> bool:
    """A JSON integer (``2.0`` counts, as in JSON; booleans do not)."""
    return is_number(value) and float(value).is_integer()


def check_fields(
    ctx: Context,
    obj: Mapping[str, Any],
    loc: str,
    allowed: Iterable[str],
    required: Iterable[str] = (),
) -> None:
    """Unknown fields (one diagnostic each) and missing required fields (one in all)."""
    allowed_set = set(allowed)
    for key in obj:
        if key not in allowed_set:
            ctx.error(loc, f"Field '{key}' is not supported")
    missing = [name for name in required if name not in obj]
    if missing:
        ctx.error(loc, f"These fields are required: [{', '.join(missing)}]")


def expect_object(ctx: Context, value: Any, loc: str, what: str) -> bool:
    """Whether ``value`` is an object; reports it when not."""
    if isinstance(value, dict):
        return True
    ctx.error(loc, f"{what} must be a JSON object, not {type_name(value)}")
    return False


def expect_string(ctx: Context, value: Any, loc: str, what: str, *, empty: bool = True) -> bool:
    """Whether ``value`` is a string (non-empty unless ``empty``); reports it when not."""
    if isinstance(value, str) and (empty or value):
        return True
    if isinstance(value, str):
        ctx.error(loc, f"The value for the field '{what}' must not be empty")
    else:
        ctx.error(loc, f"The value for the field '{what}' must be a string, not {type_name(value)}")
    return False


def expect_int(
    ctx: Context,
    value: Any,
    loc: str,
    what: str,
    minimum: int = 0,
    maximum: int | None = None,
) -> bool:
    """Whether ``value`` is an integer in ``[minimum, maximum]`` (no upper bound
    when ``maximum`` is None); reports it when not."""
    if is_int(value) and minimum <= value and (maximum is None or value <= maximum):
        return True
    if maximum is not None:
        kind = f"an integer between {minimum} and {maximum}"
    elif minimum == 1:
        kind = "a positive integer"
    elif minimum == 0:
        kind = "a non-negative integer"
    else:
        kind = f"an integer >= {minimum}"
    ctx.error(loc, f"The value for the field '{what}' must be {kind}, not {shown(value)}")
    return False


def expect_enum(ctx: Context, value: Any, loc: str, what: str, choices: Iterable[str]) -> bool:
    """Whether ``value`` is one of ``choices``; reports it when not."""
    options = tuple(choices)
    if isinstance(value, str) and value in options:
        return True
    if not isinstance(value, str):
        ctx.error(loc, f"Expected value of type [STRING] for the field '{what}'")
    else:
        ctx.error(loc, f"Value should be one of the following: [{', '.join(options)}]")
    return False


def exclusive(ctx: Context, obj: Mapping[str, Any], loc: str, *names: str) -> list[str]:
    """The fields of ``names`` present in ``obj``; more than one is reported."""
    present = [name for name in names if name in obj]
    if len(present) > 1:
        quoted = ", ".join(f"'{name}'" for name in present)
        ctx.error(pointer(loc, present[0]), f"Only one of {quoted} can be specified")
    return present


def check_language_fields(
    ctx: Context,
    obj: Mapping[str, Any],
    loc: str,
    language: str,
    common: Iterable[str],
    jsonpath: Iterable[str] = (),
    jsonata: Iterable[str] = (),
    required: Iterable[str] = (),
    *,
    at_field: bool = False,
    mixing_reported: bool = False,
) -> None:
    """Like :func:`check_fields` for an object whose fields depend on the query
    language. A field of the other language is reported in AWS's words, at the
    object (at the field itself when ``at_field``), unless ``mixing_reported``
    (the state already got the "can not be JSONPath" error)."""
    own, other, other_name = (
        (set(jsonpath), set(jsonata), JSONATA)
        if language == JSONPATH
        else (set(jsonata), set(jsonpath), JSONPATH)
    )
    allowed = set(common) | own
    rest: dict[str, Any] = {}
    for key, value in obj.items():
        if key in other and key not in allowed:
            if not mixing_reported:
                ctx.error(
                    pointer(loc, key) if at_field else loc,
                    f"The QueryLanguage is set to '{language}', but field '{key}' is only "
                    f"supported for the '{other_name}' QueryLanguage",
                )
        else:
            rest[key] = value
    check_fields(ctx, rest, loc, allowed, ())
    missing = [name for name in required if name not in obj]
    if missing:
        ctx.error(loc, f"These fields are required: [{', '.join(missing)}]")


class JsonObject(dict[str, Any]):
    """A JSON object as :func:`~montemap.asl.definition.load_definition` reads it:
    a plain dict that also remembers the keys the text repeated (JSON keeps the
    last one), so that duplicate state names can be reported."""

    duplicate_keys: tuple[str, ...] = ()
