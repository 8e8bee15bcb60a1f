"""The JSONPath parser: path text to a :class:`~montemap.asl.jsonpath_syntax.ParsedPath`.

A recursive-descent parser for the Jayway grammar AWS accepts (roots ``$``,
``$$``, ``$name``; names, indexes, slices, wildcards, deep scans, filters and
``.length()``), cached per text, plus the validity checks the ASL validator
asks of a path: :func:`validate_path`, :func:`is_definite_path` and
:func:`is_reference_path`.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from montemap.asl.jsonpath_syntax import (
    Compare,
    Expr,
    Filter,
    Indexes,
    Length,
    Literal,
    Logical,
    Names,
    Operand,
    ParsedPath,
    PathError,
    PathOperand,
    Regex,
    Scan,
    Selector,
    Slice,
    Wildcard,
    backtracking_risk,
)

__all__ = ["is_definite_path", "is_reference_path", "parse_path", "validate_path"]

_COMPARISON_OPS = ("==", "!=", "<=", ">=", "=~", "<", ">")
_WORD_OPS = ("nin", "in", "subsetof", "anyof", "noneof", "size", "empty", "contains")
_NAME_STOP = set(".[( \t\n\r")
_FILTER_NAME_STOP = _NAME_STOP | set(")=!<>&|,")
_VARIABLE_CHARS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A filter's literal: a number as Jayway reads one (Java's BigDecimal: ``.85``, ``5.``,
#: ``-.5`` and ``1e3`` too), ``true``, ``false`` or ``null``.
_LITERAL = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|true\b|false\b|null\b")


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
            elif not self.text[self.pos :].strip(" "):
                break  # trailing spaces: Jayway's path compiler (AWS's) trims them
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
            if self.peek() == "[":  # `$.[0]`, `$.[?(...)]`: AWS's library reads the bracket
                return self.bracket()
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
        match = _LITERAL.match(self.text, self.pos)
        if not match:
            raise _SyntaxError(f"expected a value at position {self.pos}")
        self.pos = match.end()
        text = match.group()
        if text[-1].isdigit() or text[-1] == ".":  # a number, as Java's BigDecimal reads it
            return Literal(int(text) if text.lstrip("-").isdigit() else float(text))
        return Literal(json.loads(text))

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
        source = "".join(chars)
        try:
            compiled = re.compile(source, flags)
        except re.error as exc:
            raise _SyntaxError(f"bad regular expression: {exc}")
        risk = backtracking_risk(compiled)
        if risk is not None:
            raise _SyntaxError(
                f"the regular expression /{source}/ could backtrack exponentially "
                f"({risk}); write it without that"
            )
        return Regex(compiled)

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
