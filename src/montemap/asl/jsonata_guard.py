"""The fast path's guard: when an expression may run on the caller's thread.

Most templates are a path, a comparison or a small object constructor and
finish in microseconds; they run in-process. An evaluation there is watched
at every step the evaluator takes and gives up with :class:`Escalate` (to be
evaluated again, from scratch, in an evaluator process with hard limits)
when it

* runs past :data:`~montemap.asl.jsonata_limits.FAST_BUDGET_MS`;
* produces a string or an array past the fast-path caps, or more text and
  items in all than :data:`~montemap.asl.jsonata_limits.FAST_MAX_TOTAL_CHARS`;
* concatenates (``&``) an array or object whose text would be large.

Every allocation the evaluator makes in-process is then bounded, because
what cannot be watched step by step never runs in-process: a regular
expression (backtracking runs in C, unbounded) and the builtins whose single
call can build output out of proportion to its input (``$string``,
``$join``, ``$pad``, ``$replace``, the formatting functions...) send the
whole expression to an evaluator process (:func:`inline_safe`).
"""

from __future__ import annotations

import time
from typing import Any, Final

from jsonata.jsonata import Jsonata
from jsonata.parser import Parser

from montemap.asl.jsonata_limits import (
    FAST_BUDGET_MS,
    FAST_MAX_ITEMS,
    FAST_MAX_STRING,
    FAST_MAX_TOTAL_CHARS,
)
from montemap.asl.jsonata_values import text_size

__all__ = ["Escalate", "GuardedJsonata", "InlineGuard", "inline_safe"]

#: Builtins that never run in-process: one call can allocate or loop without
#: the evaluator taking a step in between.
_OUT_OF_PROCESS: Final[frozenset[str]] = frozenset(
    {
        "string",
        "join",
        "pad",
        "replace",
        "match",
        "formatNumber",
        "formatBase",
        "formatInteger",
        "power",
        "eval",
        "now",
        "fromMillis",
        "toMillis",
    }
)

#: Names the evaluator binds as builtins (a reference to one of these
#: outside :data:`_OUT_OF_PROCESS` is fine).
_BUILTINS: Final[frozenset[str]] = frozenset(Jsonata.static_frame.bindings)


class Escalate(BaseException):
    """The fast path gave up: evaluate again in an evaluator process.

    A ``BaseException`` so that no ``except Exception`` inside the evaluator
    turns it into an expression error.
    """


def inline_safe(ast: Any) -> bool:
    """Whether ``ast`` may be evaluated in-process under :class:`InlineGuard`."""
    seen: set[int] = set()
    pending: list[Any] = [ast]
    while pending:
        node = pending.pop()
        if isinstance(node, list | tuple):
            pending.extend(node)
            continue
        if not isinstance(node, Parser.Symbol) or id(node) in seen:
            continue
        seen.add(id(node))
        kind = getattr(node, "type", None)
        if kind == "regex":
            return False
        if kind == "variable" and node.value in _OUT_OF_PROCESS and node.value in _BUILTINS:
            return False
        pending.extend(
            value
            for value in vars(node).values()
            if isinstance(value, Parser.Symbol | list | tuple)
        )
    return True


class InlineGuard:
    """Entry and exit callbacks for one in-process evaluation."""

    def __init__(self, max_depth: int) -> None:
        self._deadline = time.monotonic() + FAST_BUDGET_MS / 1000
        self._max_depth = max_depth
        self._depth = 0
        self._produced = 0

    def install(self, frame: Jsonata.Frame) -> None:
        frame.set_evaluate_entry_callback(self.entry)
        frame.set_evaluate_exit_callback(self.exit)

    def entry(self, expr: Any, input: Any, env: Any) -> None:
        if env.is_parallel_call:
            return
        self._depth += 1
        self._check()

    def exit(self, expr: Any, input: Any, env: Any, result: Any) -> None:
        if not env.is_parallel_call:
            self._depth -= 1
        if isinstance(result, str):
            self._count(len(result), FAST_MAX_STRING)
        elif isinstance(result, list | dict):
            self._count(len(result), FAST_MAX_ITEMS)
        self._check()

    def _count(self, size: int, cap: int) -> None:
        self._produced += size
        if size > cap or self._produced > FAST_MAX_TOTAL_CHARS:
            raise Escalate

    def _check(self) -> None:
        if self._depth > self._max_depth or time.monotonic() > self._deadline:
            # Depth is checked again, and reported, by the evaluator process.
            raise Escalate


class GuardedJsonata(Jsonata):  # type: ignore[misc]
    """The evaluator, with ``&`` refusing to stringify a large array or object in-process."""

    #: Set on the per-thread instance while it evaluates in-process.
    inline: bool = False

    def evaluate_string_concat(self, lhs: Any, rhs: Any) -> str:
        if self.inline:
            for operand in (lhs, rhs):
                if isinstance(operand, list | dict) and (
                    text_size(operand, FAST_MAX_STRING) > FAST_MAX_STRING
                ):
                    raise Escalate
        result: str = super().evaluate_string_concat(lhs, rhs)
        return result
