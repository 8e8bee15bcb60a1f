"""The syntax of an intrinsic function call: its tree and a cached parser.

An invocation such as ``States.Format('Hi {}', $.name)`` parses into a
:class:`Call` whose arguments are string literals (:class:`StringArg`),
numbers and keywords (:class:`LiteralArg`), paths (:class:`PathArg`) and
nested calls. String literals use single quotes and the escapes ``\\'``,
``\\{``, ``\\}`` and ``\\\\``; an unescaped ``{}`` splits a string into the
parts ``States.Format`` fills in.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from montemap.asl.jsonpath_parser import validate_path
from montemap.errors import MontemapError

__all__ = [
    "MAX_NESTING",
    "Arg",
    "Call",
    "IntrinsicSyntaxError",
    "LiteralArg",
    "PathArg",
    "StringArg",
    "is_intrinsic",
    "parse_intrinsic",
    "parse_or_problem",
]

#: AWS allows up to 10 intrinsic functions nested within one field.
MAX_NESTING = 10


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


class IntrinsicSyntaxError(MontemapError):
    """An invocation that does not parse: ``str()`` says what and where."""


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
def parse_or_problem(expr: str) -> Call | str:
    """The parsed call, or what is wrong with ``expr`` (cached per text)."""
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
    result = parse_or_problem(expr)
    if isinstance(result, str):
        raise IntrinsicSyntaxError(result)
    return result


def is_intrinsic(s: str) -> bool:
    """Whether ``s`` is written as an intrinsic call (``States.Name(``...), valid or not."""
    return isinstance(s, str) and re.match(r"\s*States\.[A-Za-z0-9]+\s*\(", s) is not None
