"""JSONata as an ASL query language: ``"{% expr %}"`` fields, evaluated as AWS does.

An expression sees the reserved variable ``$states`` (``input``, ``result``,
``errorOutput``, ``context``), the execution's variables as ``$name``, and the
functions Step Functions adds (see :mod:`montemap.asl.jsonata_functions`).
There is no context item: AWS rejects definitions that read one.

Every failure raises :class:`~montemap.errors.EvaluationError` named
``States.QueryEvaluationError`` whose cause is the detail AWS records, e.g.
"The JSONata expression '$x' specified for the field 'Output/result' returned
nothing (undefined)."; the interpreter adds the state prefix.

Expressions are compiled once and cached; each evaluation is bounded in time
and depth and works on a private copy of ``$states`` and the variables, so an
expression can never change them for anyone else.

The functions here evaluate on the calling thread. ``inline=True`` is the
fast path (see :mod:`montemap.asl.jsonata_guard`): it raises
:class:`~montemap.asl.jsonata_guard.Escalate` instead of running long or
large. The engine evaluates through :mod:`montemap.asl.jsonata_runner`, which
sends what the fast path gives up on to an evaluator process with hard time
and memory limits.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jsonata.jexception import JException
from jsonata.jsonata import Jsonata
from jsonata.timebox import Timebox

from montemap.asl.jsonata_functions import MEMORY_LIMIT_MESSAGE, bind_functions
from montemap.asl.jsonata_guard import Escalate, GuardedJsonata, InlineGuard, inline_safe
from montemap.asl.jsonata_limits import MAX_RESULT_CHARS
from montemap.asl.jsonata_messages import evaluation_detail, jsonata_message
from montemap.asl.jsonata_values import (
    UnsupportedResult,
    compact_json,
    from_jsonata,
    text_size,
    to_jsonata,
    type_name,
)
from montemap.errors import QUERY_EVALUATION_ERROR, EvaluationError

__all__ = [
    "EVALUATION_TIMEOUT_MS",
    "MAX_EVALUATION_DEPTH",
    "UNDEFINED",
    "Escalate",
    "evaluate_expression",
    "evaluate_field",
    "evaluate_field_as",
    "expression_body",
    "is_expression",
    "syntax_error",
]


class _Undefined:
    """JSONata's *undefined*: the absence of a value, distinct from ``null``."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


#: What an expression that produced no value returns.
UNDEFINED: Final[object] = _Undefined()

#: Wall-clock bound on one evaluation, in milliseconds.
EVALUATION_TIMEOUT_MS: Final[int] = 10_000

#: Bound on the evaluator's nesting depth (recursion in the expression).
MAX_EVALUATION_DEPTH: Final[int] = 1500

_OPEN: Final[str] = "{%"
_CLOSE: Final[str] = "%}"
_STATES: Final[str] = "states"
_VARIABLE: Final = re.compile(r"\$(\w+)")

#: JSON types a field may demand, plus "integer" (a number with no fraction).
_EXPECTABLE: Final[frozenset[str]] = frozenset(
    {"array", "object", "string", "number", "integer", "boolean", "null"}
)


def is_expression(value: Any) -> bool:
    """Whether ``value`` is a JSONata template: a string opening ``{%`` and closing ``%}``."""
    return (
        isinstance(value, str)
        and len(value) >= len(_OPEN) + len(_CLOSE)
        and value.startswith(_OPEN)
        and value.endswith(_CLOSE)
    )


def expression_body(template: str) -> str:
    """The expression inside a ``"{% ... %}"`` template, trimmed as AWS quotes it."""
    if not is_expression(template):
        raise ValueError(f"not a JSONata template ('{{% ... %}}'): {template!r}")
    return template[len(_OPEN) : -len(_CLOSE)].strip()


@dataclass(frozen=True)
class _Compiled:
    evaluator: Jsonata
    #: Every ``$name`` the text mentions: only these bindings are prepared.
    names: frozenset[str]
    #: Whether the fast path may evaluate it (no regex, no unbounded builtin).
    inline: bool


@functools.lru_cache(maxsize=4096)
def _compile(expr: str) -> _Compiled:
    evaluator = GuardedJsonata(expr)
    return _Compiled(evaluator, frozenset(_VARIABLE.findall(expr)), inline_safe(evaluator.ast))


#: One evaluator instance per thread: its fields are per-evaluation scratch.
_LOCAL: Final = threading.local()


def _thread_evaluator(compiled: _Compiled) -> GuardedJsonata:
    """This thread's evaluator instance; any compiled expression's AST runs on it."""
    evaluator: GuardedJsonata | None = getattr(_LOCAL, "evaluator", None)
    if evaluator is None:
        evaluator = copy.copy(compiled.evaluator)
        _LOCAL.evaluator = evaluator
    return evaluator


def syntax_error(expr: str) -> str | None:
    """``None`` if ``expr`` (without delimiters) compiles, else the parser's message.

    The message is jsonata-js's, without its code, as AWS quotes it in an
    ``INVALID_JSONATA_EXPRESSION`` diagnostic (e.g. ``Unexpected end of expression``).
    """
    try:
        _compile(expr)
    except JException as error:
        return jsonata_message(error)
    except RecursionError:
        return "Expression is nested too deeply"
    return None


def evaluate_expression(
    expr: str,
    *,
    states: Mapping[str, Any],
    variables: Mapping[str, Any],
    inline: bool = False,
    timeout_ms: int = EVALUATION_TIMEOUT_MS,
) -> Any:
    """Evaluate ``expr`` (no delimiters); a plain JSON value, or :data:`UNDEFINED`.

    Raises :class:`EvaluationError` (``States.QueryEvaluationError``) when the
    expression does not compile, fails, or yields something JSON cannot hold.
    """
    return _evaluate(expr.strip(), None, _Scope(states, variables, inline, timeout_ms))


def evaluate_field(
    value: Any,
    *,
    field: str,
    states: Mapping[str, Any],
    variables: Mapping[str, Any],
    inline: bool = False,
    timeout_ms: int = EVALUATION_TIMEOUT_MS,
) -> Any:
    """Evaluate every ``"{% %}"`` template inside a state field's value.

    Objects and arrays are rebuilt with their members evaluated; other values
    are returned as they are. ``field`` names the field in messages and grows
    as AWS grows it: ``Output/result`` for an object member, ``Items[1]`` for
    an array element. A template that yields nothing is an error.

    ``inline`` evaluates on the fast path (:class:`Escalate` when it gives
    up); ``timeout_ms`` bounds each template otherwise.
    """
    return _evaluate_value(value, field, _Scope(states, variables, inline, timeout_ms))


@dataclass(frozen=True)
class _Scope:
    states: Mapping[str, Any]
    variables: Mapping[str, Any]
    inline: bool
    timeout_ms: int


def _evaluate_value(value: Any, field: str, scope: _Scope) -> Any:
    if is_expression(value):
        body = expression_body(value)
        result = _evaluate(body, field, scope)
        if result is UNDEFINED:
            raise _error(f"{_subject(body, field)} returned nothing (undefined).")
        return result
    if isinstance(value, dict):
        return {key: _evaluate_value(item, f"{field}/{key}", scope) for key, item in value.items()}
    if isinstance(value, list):
        return [
            _evaluate_value(item, f"{field}[{index}]", scope) for index, item in enumerate(value)
        ]
    return value


def evaluate_field_as(
    value: Any,
    *,
    field: str,
    expected: str | Iterable[str],
    states: Mapping[str, Any],
    variables: Mapping[str, Any],
    inline: bool = False,
    timeout_ms: int = EVALUATION_TIMEOUT_MS,
) -> Any:
    """:func:`evaluate_field`, then check the type a template produced.

    ``expected`` is a JSON type name (``array``, ``object``, ``string``,
    ``number``, ``boolean``, ``null``) or ``integer``, or several. A template
    whose result has another type fails as AWS words it: "... returned an
    unexpected result type. Expected 'array', but was 'string' for value:
    "text"". Literal values are the definition validator's business and are
    returned unchecked.
    """
    wanted = (expected,) if isinstance(expected, str) else tuple(expected)
    unknown = [name for name in wanted if name not in _EXPECTABLE]
    if not wanted or unknown:
        raise ValueError(f"expected must name JSON types from {sorted(_EXPECTABLE)}: {wanted}")
    result = evaluate_field(
        value,
        field=field,
        states=states,
        variables=variables,
        inline=inline,
        timeout_ms=timeout_ms,
    )
    if is_expression(value) and not any(_has_type(result, name) for name in wanted):
        raise _error(
            f"{_subject(expression_body(value), field)} returned an unexpected result type. "
            f"Expected '{wanted[0]}', but was '{type_name(result)}' for value: "
            f"{compact_json(result)}"
        )
    return result


def _has_type(value: Any, name: str) -> bool:
    if name == "integer":
        return type_name(value) == "number" and float(value).is_integer()
    return type_name(value) == name


def _evaluate(expr: str, field: str | None, scope: _Scope) -> Any:
    subject = _subject(expr, field)
    try:
        compiled = _compile(expr)
    except (JException, RecursionError) as error:
        raise _error(
            f"{subject} threw an error during evaluation{evaluation_detail(error)}"
        ) from error
    if scope.inline and not compiled.inline:
        raise Escalate
    frame = _frame(compiled.names, scope)
    # Evaluate through this thread's evaluator instance (its fields are
    # per-evaluation scratch) in our own root frame: Jsonata.evaluate() would
    # parent the frame on the shared instance's current environment, which
    # another thread may be midway through.
    evaluator = _thread_evaluator(compiled)
    evaluator.timestamp = Timebox.current_milli_time()  # what $now() and $millis() read
    evaluator.inline = scope.inline
    try:
        raw = evaluator.eval(compiled.evaluator.ast, None, frame)
    except MemoryError:
        raise _error(
            f"{subject} threw an error during evaluation: {MEMORY_LIMIT_MESSAGE}"
        ) from None
    except Exception as error:  # the evaluator raises more than JException
        raise _error(
            f"{subject} threw an error during evaluation{evaluation_detail(error)}"
        ) from error
    finally:
        evaluator.inline = False
    if raw is None:
        return UNDEFINED
    if isinstance(raw, list | dict) and text_size(raw, MAX_RESULT_CHARS) > MAX_RESULT_CHARS:
        if scope.inline:
            raise Escalate
        raise _error(f"{subject} threw an error during evaluation: {MEMORY_LIMIT_MESSAGE}")
    try:
        return from_jsonata(raw)
    except UnsupportedResult:
        raise _error(f"{subject} returned an unsupported result type.") from None


def _frame(names: frozenset[str], scope: _Scope) -> Jsonata.Frame:
    """A fresh binding frame: bounds, functions, then copies of what the expression names."""
    frame = Jsonata.Frame(Jsonata.static_frame)
    frame.bind("$", None)
    if scope.inline:
        InlineGuard(MAX_EVALUATION_DEPTH).install(frame)
    else:
        frame.set_runtime_bounds(scope.timeout_ms, MAX_EVALUATION_DEPTH)
    bind_functions(frame)
    for name in names:
        if name == _STATES:
            frame.bind(name, to_jsonata(dict(scope.states)))
        elif name in scope.variables:
            frame.bind(name, to_jsonata(scope.variables[name]))
    return frame


def _subject(expr: str, field: str | None) -> str:
    if field is None:
        return f"The JSONata expression '{expr}'"
    return f"The JSONata expression '{expr}' specified for the field '{field}'"


def _error(cause: str) -> EvaluationError:
    return EvaluationError(QUERY_EVALUATION_ERROR, cause)
