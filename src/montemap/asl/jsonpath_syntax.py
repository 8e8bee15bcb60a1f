"""The JSONPath syntax tree, and :class:`PathError`, shared by parser and evaluator.

A parsed path (:class:`ParsedPath`) is a root and a chain of selectors
(:data:`Selector`); a filter selector holds an expression tree
(:data:`Expr`) of comparisons over operands (:data:`Operand`).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from montemap.errors import MontemapError

__all__ = [
    "Compare",
    "Expr",
    "Filter",
    "Indexes",
    "Length",
    "Literal",
    "Logical",
    "Names",
    "Operand",
    "ParsedPath",
    "PathError",
    "PathOperand",
    "Regex",
    "Scan",
    "Selector",
    "Slice",
    "Wildcard",
    "backtracking_risk",
]


class PathError(MontemapError):
    """A path that is malformed or that matches nothing.

    ``path`` is the path as written; ``detail`` is Jayway's reason ("No
    results for path: $['a']"); ``str()`` gives AWS's "Invalid path '<path>' :
    <detail>".
    """

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"Invalid path '{path}' : {detail}")
        self.path = path
        self.detail = detail


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


# ---------------------------------------------------------------- =~ patterns
# Python's ``re`` backtracks: a pattern in which one piece of text can be split
# between the iterations of a quantifier in many ways fails in time exponential in
# the text's length, holding the event loop meanwhile. Such a pattern has, under a
# quantifier that repeats (at most more than once), either another quantifier
# whose count varies (``(a+)+``, ``(a?a)+``) or alternatives that can begin with
# the same character (``(a|aa)+``). :func:`backtracking_risk` finds either.

#: The characters first-character sets are compared on (Latin, and then some).
_SAMPLE = [chr(code) for code in range(0x250)]
_CATEGORY_ESCAPES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_ZERO_WIDTH = ("AT", "ASSERT", "ASSERT_NOT")
#: ``re``'s own parser (``re._parser``: no stub, and ``sre_parse`` warns).
_sre_parser: Any = importlib.import_module("re._parser")
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT")


def backtracking_risk(pattern: re.Pattern[str]) -> str | None:
    """Why ``pattern`` may backtrack exponentially, or None."""
    tree = _sre_parser.parse(pattern.pattern, pattern.flags)
    return _risk(list(tree), repeated=False, ignore_case=bool(pattern.flags & re.I))


def _risk(items: list[Any], *, repeated: bool, ignore_case: bool) -> str | None:
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            low, high, body = arg
            if repeated and low != high:
                return "a quantifier inside a repeated group"
            repeats = high > 1
            if repeats and _overlapping_branches(list(body), ignore_case):
                return "alternatives that can match the same text inside a repeated group"
            found = _risk(list(body), repeated=repeated or repeats, ignore_case=ignore_case)
        elif name == "SUBPATTERN":
            found = _risk(list(arg[-1]), repeated=repeated, ignore_case=ignore_case)
        elif name == "BRANCH":
            found = next(
                (
                    risk
                    for branch in arg[1]
                    if (risk := _risk(list(branch), repeated=repeated, ignore_case=ignore_case))
                ),
                None,
            )
        else:
            found = None
        if found:
            return found
    return None


def _overlapping_branches(items: list[Any], ignore_case: bool) -> bool:
    """Whether an alternation in ``items`` (outside nested repeats) has two
    alternatives that can begin with the same character (or match nothing)."""
    for op, arg in items:
        name = str(op)
        if name == "SUBPATTERN":
            if _overlapping_branches(list(arg[-1]), ignore_case):
                return True
        elif name == "BRANCH":
            seen: set[str] = set()
            for branch in arg[1]:
                first, empty = _first_chars(list(branch), ignore_case)
                if empty or first & seen:
                    return True
                seen |= first
    return False


def _first_chars(items: list[Any], ignore_case: bool) -> tuple[set[str], bool]:
    """The sample characters a match of ``items`` can begin with, and whether it
    can match the empty text."""
    found: set[str] = set()
    for op, arg in items:
        name = str(op)
        if name in _ZERO_WIDTH:
            continue
        if name in _REPEATS:
            inner, empty = _first_chars(list(arg[2]), ignore_case)
            empty = empty or arg[0] == 0
        elif name == "SUBPATTERN":
            inner, empty = _first_chars(list(arg[-1]), ignore_case)
        elif name == "BRANCH":
            inner, empty = set(), False
            for branch in arg[1]:
                chars, nothing = _first_chars(list(branch), ignore_case)
                inner |= chars
                empty = empty or nothing
        else:
            inner, empty = _one_char(name, arg, ignore_case), False
        found |= inner
        if not empty:
            return found, False
    return found, True


def _one_char(name: str, arg: Any, ignore_case: bool) -> set[str]:
    """The sample characters one character-matching item accepts."""
    if name == "LITERAL":
        source = re.escape(chr(arg))
    elif name == "NOT_LITERAL":
        source = "[^" + re.escape(chr(arg)) + "]"
    elif name == "IN":
        parts: list[str] = []
        for kind, value in arg:
            kind_name = str(kind)
            if kind_name == "NEGATE":
                parts.insert(0, "^")
            elif kind_name == "LITERAL":
                parts.append(re.escape(chr(value)))
            elif kind_name == "RANGE":
                parts.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
            elif kind_name == "CATEGORY":
                parts.append(_CATEGORY_ESCAPES.get(str(value), r"\s\S"))
            else:
                return set(_SAMPLE)
        source = "[" + "".join(parts) + "]"
    else:
        return set(_SAMPLE)  # ANY, a back reference...: anything, to be safe
    one = re.compile(source, re.I if ignore_case else 0)
    return {char for char in _SAMPLE if one.fullmatch(char)}
