"""JSONPath for the ASL JSONPath query language, with the Jayway semantics AWS uses.

A path starts at one of three roots: ``$`` (the state's data), ``$$`` (the
context object) or ``$name`` (the ASL variable ``name``). It continues with
dot names (``.a``), bracket names (``['a']``, ``["a", "b"]``), indexes
(``[0]``, ``[-1]``, ``[0,2]``), slices (``[1:5]``, ``[::2]``), wildcards
(``.*``, ``[*]``), deep scans (``..a``, ``..*``, ``..[0]``), filters
(``[?(@.a > 1 && @.b == 'x')]``) and a final ``.length()``.

A *definite* path (names and single indexes only) yields one value or raises
:class:`PathError`; any other path yields a list of the matches, possibly
empty, as Jayway JsonPath does. As with Jayway over Jackson nodes (what AWS
runs), an array index out of bounds reads ``null`` rather than failing.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from montemap import errors
from montemap.jsontypes import json_type_name

__all__ = [
    "ParsedPath",
    "PathError",
    "is_definite_path",
    "is_reference_path",
    "parse_path",
    "query",
    "set_result",
    "to_json_text",
    "validate_path",
]


class PathError(Exception):
    """A path that is malformed or that matches nothing.

    ``path`` is the path as written; ``detail`` is Jayway's reason ("No
    results for path: $['a']"); ``str()`` gives AWS's "Invalid path '<path>' :
    <detail>".
    """

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"Invalid path '{path}' : {detail}")
        self.path = path
        self.detail = detail


# --------------------------------------------------------------------------- JSON text


def _java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` (and so Jackson) prints it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    digits, exponent = _shortest_digits(magnitude)
    rest = digits[1:] or "0"
    return f"{'-' if value < 0 else ''}{digits[0]}.{rest}E{exponent + len(digits) - 1}"


def _shortest_digits(magnitude: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of a positive float, and the exponent of the last."""
    mantissa, _, exp_text = repr(magnitude).partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exponent -= len(fraction)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    return stripped or "0", exponent


_STRING_ESCAPES = {i: f"\\u{i:04X}" for i in range(0x20)} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
}


def _json_string(text: str) -> str:
    """A JSON string literal as Jackson writes it (UTF-8 kept, ``\\u001F`` upper-case)."""
    return '"' + text.translate(_STRING_ESCAPES) + '"'


def to_json_text(value: Any) -> str:
    """Compact JSON text as AWS renders it (Jackson): no spaces, Java doubles, UTF-8."""
    parts: list[str] = []
    _write_json(value, parts)
    return "".join(parts)


def _write_json(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_java_double(value))
    elif isinstance(value, str):
        out.append(_json_string(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(_json_string(str(key)))
            out.append(":")
            _write_json(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write_json(item, out)
        out.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Names:
    """``.a``, ``['a']`` or ``['a','b']``."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Indexes:
    """``[0]``, ``[-1]`` or ``[0,2]``."""

    indexes: tuple[int, ...]


@dataclass(frozen=True)
class Slice:
    """``[start:stop:step]``, each part optional."""

    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True)
class Wildcard:
    """``.*`` or ``[*]``."""


@dataclass(frozen=True)
class Scan:
    """``..`` followed by a selector (names, wildcard, indexes, filter...)."""

    selector: Selector


@dataclass(frozen=True)
class Filter:
    """``[?(<expression>)]``."""

    expression: Expr


@dataclass(frozen=True)
class Length:
    """A trailing ``.length()``."""


Selector = Names | Indexes | Slice | Wildcard | Scan | Filter | Length


@dataclass(frozen=True)
class ParsedPath:
    """A parsed path.

    ``root`` is ``"$"`` (data), ``"$$"`` (context), ``"$var"`` (the variable
    named ``variable``) or ``"@"`` (the current item, in filters); ``definite``
    tells whether the path names one node (Jayway's ``isDefinite``).
    """

    text: str
    root: str
    variable: str | None
    selectors: tuple[Selector, ...]
    definite: bool


# Filter expressions -------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """A literal operand: number, string, boolean, null, JSON array or object."""

    value: Any


@dataclass(frozen=True)
class PathOperand:
    """An ``@...`` or ``$...`` path inside a filter."""

    path: ParsedPath


@dataclass(frozen=True)
class Regex:
    """A ``/pattern/flags`` operand."""

    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Compare:
    """``left <op> right``, or ``left`` alone (an existence test) when ``op`` is None."""

    left: Operand
    op: str | None
    right: Operand | None


@dataclass(frozen=True)
class Logical:
    """``a && b``, ``a || b`` or ``!a``."""

    op: str
    operands: tuple[Expr, ...]


Operand = Literal | PathOperand | Regex
Expr = Compare | Logical

_COMPARISON_OPS = ("==", "!=", "<=", ">=", "=~", "<", ">")
_WORD_OPS = ("nin", "in", "subsetof", "anyof", "noneof", "size", "empty", "contains")
_NAME_STOP = set(".[( \t\n\r")
_FILTER_NAME_STOP = _NAME_STOP | set(")=!<>&|,")
_VARIABLE_CHARS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_definite(selectors: tuple[Selector, ...]) -> bool:
    """Whether a selector chain names one node (Jayway's ``isDefinite``)."""
    for i, sel in enumerate(selectors):
        if isinstance(sel, Names):
            if len(sel.names) > 1 and i != len(selectors) - 1:
                return False
        elif isinstance(sel, Indexes):
            if len(sel.indexes) > 1:
                return False
        elif not isinstance(sel, Length):
            return False
    return True


#: How deep ``!`` and parentheses may nest in a filter expression.
_MAX_FILTER_DEPTH = 64


class _SyntaxError(Exception):
    """Internal: a syntax error at a position."""


class _Parser:
    """A recursive-descent parser for one path (or one filter expression)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- helpers
    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_ws(self) -> None:
        while not self.at_end() and self.text[self.pos] in " \t\n\r":
            self.pos += 1

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            found = self.text[self.pos : self.pos + 10] or "end of path"
            raise _SyntaxError(f"expected '{token}' at position {self.pos}, found '{found}'")
        self.pos += len(token)

    # -- paths
    def path(self, *, in_filter: bool = False) -> ParsedPath:
        start = self.pos
        variable: str | None = None
        if self.text.startswith("$$", self.pos):
            root = "$$"
            self.pos += 2
        elif self.peek() == "$":
            self.pos += 1
            match = _VARIABLE_CHARS.match(self.text, self.pos)
            if match:
                root, variable = "$var", match.group()
                self.pos = match.end()
            else:
                root = "$"
        elif self.peek() == "@" and in_filter:
            root = "@"
            self.pos += 1
        else:
            raise _SyntaxError("a path must start with '$'")
        selectors: list[Selector] = []
        while not self.at_end():
            char = self.peek()
            if char == "." or char == "[":
                if selectors and isinstance(selectors[-1], Length):
                    raise _SyntaxError("length() must be the last part of a path")
                selectors.append(self.selector(in_filter))
            elif in_filter:
                break
            else:
                raise _SyntaxError(f"unexpected '{char}' at position {self.pos}")
        chain = tuple(selectors)
        return ParsedPath(self.text[start : self.pos], root, variable, chain, _is_definite(chain))

    def selector(self, in_filter: bool) -> Selector:
        if self.text.startswith("..", self.pos):
            self.pos += 2
            if self.peek() == "[":
                inner = self.bracket()
            elif self.peek() == "*":
                self.pos += 1
                inner = Wildcard()
            else:
                inner = Names((self.dot_name(in_filter),))
            return Scan(inner)
        if self.peek() == ".":
            self.pos += 1
            if self.peek() == "*":
                self.pos += 1
                return Wildcard()
            if self.peek() == "[":
                raise _SyntaxError(f"unexpected '[' after '.' at position {self.pos}")
            name = self.dot_name(in_filter)
            if self.peek(2) == "()":
                if name != "length":
                    raise _SyntaxError(f"unsupported function '{name}()'")
                self.pos += 2
                return Length()
            return Names((name,))
        return self.bracket()

    def dot_name(self, in_filter: bool) -> str:
        stop = _FILTER_NAME_STOP if in_filter else _NAME_STOP
        start = self.pos
        while not self.at_end() and self.text[self.pos] not in stop:
            self.pos += 1
        if self.pos == start:
            raise _SyntaxError(f"expected a property name at position {start}")
        return self.text[start : self.pos]

    def bracket(self) -> Selector:
        self.expect("[")
        self.skip_ws()
        char = self.peek()
        if char == "*":
            self.pos += 1
            self.skip_ws()
            self.expect("]")
            return Wildcard()
        if char == "?":
            self.pos += 1
            self.skip_ws()
            self.expect("(")
            expression = self.expression()
            self.skip_ws()
            self.expect(")")
            self.skip_ws()
            self.expect("]")
            return Filter(expression)
        if char in ("'", '"'):
            names = [self.quoted()]
            self.skip_ws()
            while self.peek() == ",":
                self.pos += 1
                self.skip_ws()
                names.append(self.quoted())
                self.skip_ws()
            self.expect("]")
            return Names(tuple(names))
        return self.index_or_slice()

    def quoted(self) -> str:
        quote = self.peek()
        if quote not in ("'", '"'):
            raise _SyntaxError(f"expected a quoted name at position {self.pos}")
        self.pos += 1
        chars: list[str] = []
        while True:
            if self.at_end():
                raise _SyntaxError("unterminated quoted name")
            char = self.text[self.pos]
            if char == "\\" and self.text[self.pos + 1 : self.pos + 2] == quote:
                chars.append(quote)
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return "".join(chars)
            chars.append(char)

    def index_or_slice(self) -> Selector:
        start = self.pos
        end = self.text.find("]", start)
        if end < 0:
            raise _SyntaxError("unterminated '['")
        body = self.text[start:end].replace(" ", "")
        self.pos = end + 1
        if ":" in body:
            parts = body.split(":")
            if len(parts) > 3:
                raise _SyntaxError(f"bad slice '[{body}]'")
            try:
                values = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
            except ValueError:
                raise _SyntaxError(f"bad slice '[{body}]'")
            if values[2] == 0:
                raise _SyntaxError("slice step cannot be zero")
            return Slice(values[0], values[1], values[2])
        try:
            indexes = tuple(int(p) for p in body.split(","))
        except ValueError:
            raise _SyntaxError(f"bad array index '[{body}]'")
        return Indexes(indexes)

    # -- filter expressions
    def expression(self) -> Expr:
        operands = [self.conjunction()]
        while True:
            self.skip_ws()
            if self.peek(2) != "||":
                break
            self.pos += 2
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Logical("||", tuple(operands))

    def conjunction(self) -> Expr:
        operands = [self.unary()]
        while True:
            self.skip_ws()
            if self.peek(2) != "&&":
                break
            self.pos += 2
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else Logical("&&", tuple(operands))

    def unary(self) -> Expr:
        self.skip_ws()
        self.depth += 1
        if self.depth > _MAX_FILTER_DEPTH:
            raise _SyntaxError("filter expression nested too deeply")
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Expr:
        if self.peek() == "!" and self.peek(2) != "!=":
            self.pos += 1
            return Logical("!", (self.unary(),))
        if self.peek() == "(":
            self.pos += 1
            inner = self.expression()
            self.skip_ws()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        left = self.operand()
        self.skip_ws()
        for op in _COMPARISON_OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                self.skip_ws()
                return Compare(left, op, self.operand())
        for op in _WORD_OPS:
            if re.match(rf"{op}\b", self.text[self.pos :]):
                self.pos += len(op)
                self.skip_ws()
                return Compare(left, op, self.operand())
        if not isinstance(left, PathOperand):
            raise _SyntaxError(f"expected a comparison operator at position {self.pos}")
        return Compare(left, None, None)

    def operand(self) -> Operand:
        self.skip_ws()
        char = self.peek()
        if char in ("@", "$"):
            return PathOperand(self.path(in_filter=True))
        if char in ("'", '"'):
            return Literal(self.quoted())
        if char == "/":
            return self.regex()
        if char in ("[", "{"):
            return Literal(self.json_literal())
        match = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true\b|false\b|null\b").match(
            self.text, self.pos
        )
        if not match:
            raise _SyntaxError(f"expected a value at position {self.pos}")
        self.pos = match.end()
        return Literal(json.loads(match.group()))

    def regex(self) -> Regex:
        self.expect("/")
        chars: list[str] = []
        while True:
            if self.at_end():
                raise _SyntaxError("unterminated regular expression")
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and not self.at_end():
                chars.append(char + self.text[self.pos])
                self.pos += 1
            elif char == "/":
                break
            else:
                chars.append(char)
        flags = 0
        while not self.at_end() and self.text[self.pos] in "imsx":
            flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[self.text[self.pos]]
            self.pos += 1
        try:
            return Regex(re.compile("".join(chars), flags))
        except re.error as exc:
            raise _SyntaxError(f"bad regular expression: {exc}")

    def json_literal(self) -> Any:
        decoder = json.JSONDecoder()
        try:
            value, end = decoder.raw_decode(self.text.replace("'", '"'), self.pos)
        except json.JSONDecodeError as exc:
            raise _SyntaxError(f"bad JSON literal at position {self.pos}: {exc.msg}")
        self.pos = end
        return value


@functools.lru_cache(maxsize=4096)
def _parse_cached(path: str) -> ParsedPath | str:
    parser = _Parser(path)
    try:
        parsed = parser.path()
    except _SyntaxError as exc:
        return str(exc)
    return parsed


def parse_path(path: str) -> ParsedPath:
    """Parse ``path``; raise :class:`PathError` if it is not a valid path."""
    if not isinstance(path, str):
        raise PathError(str(path), "a path must be a string")
    result = _parse_cached(path)
    if isinstance(result, str):
        raise PathError(path, result)
    return result


def validate_path(path: str) -> str | None:
    """None if ``path`` is a syntactically valid ASL path, else what is wrong."""
    if not isinstance(path, str):
        return "a path must be a string"
    result = _parse_cached(path)
    return result if isinstance(result, str) else None


def is_definite_path(path: str) -> bool:
    """Whether ``path`` is valid and names at most one node."""
    result = _parse_cached(path) if isinstance(path, str) else "not a string"
    return not isinstance(result, str) and result.definite


def is_reference_path(path: str) -> bool:
    """Whether ``path`` is a reference path: names and single indexes only.

    No wildcard, filter, slice, deep scan, union or function: the path
    identifies a single node, as ResultPath, OutputPath and ItemsPath require.
    """
    result = _parse_cached(path) if isinstance(path, str) else "not a string"
    if isinstance(result, str):
        return False
    return all(
        (isinstance(s, Names) and len(s.names) == 1)
        or (isinstance(s, Indexes) and len(s.indexes) == 1)
        for s in result.selectors
    )


# --------------------------------------------------------------------------- evaluation

_MISSING: Any = object()


def _format_selector(sel: Selector) -> str:
    if isinstance(sel, Names):
        return "[" + ",".join(f"'{n}'" for n in sel.names) + "]"
    if isinstance(sel, Indexes):
        return "[" + ",".join(str(i) for i in sel.indexes) + "]"
    if isinstance(sel, Length):
        return ".length()"
    return "[*]"


def _root_text(parsed: ParsedPath) -> str:
    return f"${parsed.variable}" if parsed.root == "$var" else parsed.root


_type_name = json_type_name


def _resolve_root(
    parsed: ParsedPath,
    data: Any,
    context: Any,
    variables: Mapping[str, Any] | None,
    current: Any = _MISSING,
) -> Any:
    if parsed.root == "$":
        return data
    if parsed.root == "$$":
        if context is None:
            raise PathError(parsed.text, "no context object is available")
        return context
    if parsed.root == "@":
        return current
    assert parsed.variable is not None
    if variables is None or parsed.variable not in variables:
        raise PathError(parsed.text, f"The variable '${parsed.variable}' is not defined")
    return variables[parsed.variable]


def _definite(parsed: ParsedPath, root: Any) -> Any:
    """Walk a definite path; raise PathError as Jayway does when a step is missing."""
    node = root
    last = len(parsed.selectors) - 1
    for i, sel in enumerate(parsed.selectors):
        if isinstance(sel, Names):
            if not isinstance(node, dict):
                raise PathError(
                    parsed.text,
                    f"Expected to find an object with property {_format_selector(sel)} in path "
                    f"{_prefix(parsed, i)} but found '{_type_name(node)}'",
                )
            if len(sel.names) > 1:  # Jayway merges a leaf multi-property into an object
                return {n: node[n] for n in sel.names if n in node}
            name = sel.names[0]
            if name not in node:
                if i == last:
                    raise PathError(parsed.text, f"No results for path: {_prefix(parsed, i + 1)}")
                raise PathError(parsed.text, f"Missing property in path {_prefix(parsed, i + 1)}")
            node = node[name]
        elif isinstance(sel, Indexes):
            index = sel.indexes[0]
            if not isinstance(node, list):
                raise PathError(
                    parsed.text,
                    f"Filter: {_format_selector(sel)} can only be applied to arrays. "
                    f"Current context is: {to_json_text(node)}",
                )
            # Jackson's ArrayNode.get gives null out of bounds, so AWS reads null there.
            node = node[index] if -len(node) <= index < len(node) else None
        else:  # Length
            node = _length(parsed, node)
    return node


def _length(parsed: ParsedPath, node: Any) -> int:
    if isinstance(node, list | dict | str):
        return len(node)
    raise PathError(parsed.text, f"length() cannot be applied to a {_type_name(node)}")


def _prefix(parsed: ParsedPath, count: int) -> str:
    """The first ``count`` selectors of ``parsed`` in Jayway's normalized form."""
    return _root_text(parsed) + "".join(_format_selector(s) for s in parsed.selectors[:count])


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _select(sel: Selector, node: Any, env: _Env) -> Iterator[Any]:
    """Apply one selector to one node, yielding the matches (missing ones skipped)."""
    if isinstance(sel, Names):
        if isinstance(node, dict):
            for name in sel.names:
                if name in node:
                    yield node[name]
    elif isinstance(sel, Indexes):
        if isinstance(node, list):
            for index in sel.indexes:
                yield node[index] if -len(node) <= index < len(node) else None
    elif isinstance(sel, Slice):
        if isinstance(node, list):
            yield from node[sel.start : sel.stop : sel.step]
    elif isinstance(sel, Wildcard):
        yield from _children(node)
    elif isinstance(sel, Filter):
        candidates = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
        for item in candidates:
            if _holds(sel.expression, item, env):
                yield item
    elif isinstance(sel, Scan):
        yield from _scan(sel.selector, node, env)
    elif isinstance(node, list | dict | str):  # Length
        yield len(node)


def _scan(selector: Selector, node: Any, env: _Env) -> Iterator[Any]:
    """Deep scan, pre-order as Jayway walks: the node itself, then its descendants."""
    if isinstance(selector, Wildcard):
        for child in _children(node):
            yield child
            yield from _scan(selector, child, env)
        return
    if isinstance(node, dict | list):
        yield from _select(selector, node, env)
        for child in _children(node):
            yield from _scan(selector, child, env)


@dataclass(frozen=True)
class _Env:
    data: Any
    context: Any
    variables: Mapping[str, Any] | None


def _indefinite(parsed: ParsedPath, root: Any, env: _Env) -> list[Any]:
    nodes = [root]
    for sel in parsed.selectors:
        nodes = [match for node in nodes for match in _select(sel, node, env)]
    return nodes


def _evaluate(parsed: ParsedPath, env: _Env, current: Any = _MISSING) -> Any:
    root = _resolve_root(parsed, env.data, env.context, env.variables, current)
    if parsed.definite:
        return _definite(parsed, root)
    return _indefinite(parsed, root, env)


def query(
    path: str,
    data: Any,
    *,
    context: Any = None,
    variables: Mapping[str, Any] | None = None,
) -> Any:
    """Evaluate ``path``: the value for a definite path, a list of matches otherwise.

    Raises :class:`PathError` when the path is malformed, names an undefined
    variable, or (definite paths only) matches nothing.
    """
    parsed = parse_path(path)
    return _evaluate(parsed, _Env(data, context, variables))


# Filters ------------------------------------------------------------------------


def _operand_value(operand: Operand, item: Any, env: _Env) -> Any:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Regex):
        return operand
    try:
        return _evaluate(operand.path, env, item)
    except PathError:
        return _MISSING


def _holds(expr: Expr, item: Any, env: _Env) -> bool:
    if isinstance(expr, Logical):
        if expr.op == "!":
            return not _holds(expr.operands[0], item, env)
        if expr.op == "&&":
            return all(_holds(e, item, env) for e in expr.operands)
        return any(_holds(e, item, env) for e in expr.operands)
    left = _operand_value(expr.left, item, env)
    if expr.op is None:
        if isinstance(expr.left, PathOperand) and not expr.left.path.definite:
            return bool(left)
        return left is not _MISSING
    assert expr.right is not None
    right = _operand_value(expr.right, item, env)
    return _compare(expr.op, left, right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(value: Any) -> float | int | None:
    if _is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return None
    return None


def _equal(left: Any, right: Any) -> bool:
    if _is_number(left) or _is_number(right):
        a, b = _as_number(left), _as_number(right)
        return a is not None and b is not None and a == b
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    return bool(left == right) and type(left) is type(right)


def _ordered(op: str, left: Any, right: Any) -> bool:
    if (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    ):
        a, b = left, right
    else:
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "!=":
        return left is _MISSING or right is _MISSING or not _equal(left, right)
    if left is _MISSING or right is _MISSING:
        return False
    if op == "==":
        return _equal(left, right)
    if op in ("<", "<=", ">", ">="):
        return _ordered(op, left, right)
    if op == "=~":
        return (
            isinstance(right, Regex)
            and isinstance(left, str)
            and right.pattern.fullmatch(left) is not None
        )
    if op in ("in", "nin"):
        found = isinstance(right, list) and any(_equal(left, r) for r in right)
        return found if op == "in" else isinstance(right, list) and not found
    if op in ("subsetof", "anyof", "noneof"):
        if not isinstance(left, list) or not isinstance(right, list):
            return False
        hits = [any(_equal(a, b) for b in right) for a in left]
        if op == "subsetof":
            return all(hits)
        return any(hits) if op == "anyof" else not any(hits)
    if op == "size":
        return isinstance(left, list | str) and _is_number(right) and len(left) == right
    if op == "empty":
        return isinstance(left, list | str) and isinstance(right, bool) and (not left) is right
    # contains
    if isinstance(left, str) and isinstance(right, str):
        return right in left
    return isinstance(left, list) and any(_equal(item, right) for item in left)


# --------------------------------------------------------------------------- ResultPath


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
