"""The JSONPath syntax tree, and :class:`PathError`, shared by parser and evaluator.

A parsed path (:class:`ParsedPath`) is a root and a chain of selectors
(:data:`Selector`); a filter selector holds an expression tree
(:data:`Expr`) of comparisons over operands (:data:`Operand`).
"""

from __future__ import annotations

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
