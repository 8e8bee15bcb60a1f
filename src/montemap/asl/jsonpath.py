"""JSONPath evaluation for the ASL JSONPath query language, with Jayway's semantics.

A path (see :mod:`montemap.asl.jsonpath_parser` for the grammar) starts at one
of three roots: ``$`` (the state's data), ``$$`` (the context object) or
``$name`` (the ASL variable ``name``), or ``@`` (the current item) inside a
filter.

A *definite* path (names and single indexes only) yields one value or raises
:class:`~montemap.asl.jsonpath_syntax.PathError`; any other path yields a list
of the matches, possibly empty, as Jayway JsonPath does. As with Jayway over
Jackson nodes (what AWS runs), an array index out of bounds reads ``null``
rather than failing. Filter expressions are evaluated here too, since a filter
operand is itself a path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from montemap.asl import jsonpath_syntax as syntax
from montemap.asl.json_text import to_json_text
from montemap.asl.jsonpath_parser import parse_path
from montemap.asl.jsonpath_syntax import PathError
from montemap.jsontypes import json_type_name

__all__ = ["Query", "compile_query", "query"]


_MISSING: Any = object()


def _format_selector(sel: syntax.Selector) -> str:
    if isinstance(sel, syntax.Names):
        return "[" + ",".join(f"'{n}'" for n in sel.names) + "]"
    if isinstance(sel, syntax.Indexes):
        return "[" + ",".join(str(i) for i in sel.indexes) + "]"
    if isinstance(sel, syntax.Length):
        return ".length()"
    return "[*]"


def _root_text(parsed: syntax.ParsedPath) -> str:
    return f"${parsed.variable}" if parsed.root == "$var" else parsed.root


_type_name = json_type_name


def _resolve_root(
    parsed: syntax.ParsedPath,
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


def _definite(parsed: syntax.ParsedPath, root: Any) -> Any:
    """Walk a definite path; raise PathError as Jayway does when a step is missing."""
    node = root
    last = len(parsed.selectors) - 1
    for i, sel in enumerate(parsed.selectors):
        if isinstance(sel, syntax.Names):
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
        elif isinstance(sel, syntax.Indexes):
            index = sel.indexes[0]
            if not isinstance(node, list):
                raise PathError(
                    parsed.text,
                    f"syntax.Filter: {_format_selector(sel)} can only be applied to arrays. "
                    f"Current context is: {to_json_text(node)}",
                )
            # Jackson's ArrayNode.get gives null out of bounds, so AWS reads null there.
            node = node[index] if -len(node) <= index < len(node) else None
        else:  # syntax.Length
            node = _length(parsed, node)
    return node


def _length(parsed: syntax.ParsedPath, node: Any) -> int:
    if isinstance(node, list | dict | str):
        return len(node)
    raise PathError(parsed.text, f"length() cannot be applied to a {_type_name(node)}")


def _prefix(parsed: syntax.ParsedPath, count: int) -> str:
    """The first ``count`` selectors of ``parsed`` in Jayway's normalized form."""
    return _root_text(parsed) + "".join(_format_selector(s) for s in parsed.selectors[:count])


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _select(sel: syntax.Selector, node: Any, env: _Env) -> Iterator[Any]:
    """Apply one selector to one node, yielding the matches (missing ones skipped)."""
    if isinstance(sel, syntax.Names):
        if isinstance(node, dict):
            for name in sel.names:
                if name in node:
                    yield node[name]
    elif isinstance(sel, syntax.Indexes):
        if isinstance(node, list):
            for index in sel.indexes:
                yield node[index] if -len(node) <= index < len(node) else None
    elif isinstance(sel, syntax.Slice):
        if isinstance(node, list):
            yield from node[sel.start : sel.stop : sel.step]
    elif isinstance(sel, syntax.Wildcard):
        yield from _children(node)
    elif isinstance(sel, syntax.Filter):
        candidates = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
        for item in candidates:
            if _holds(sel.expression, item, env):
                yield item
    elif isinstance(sel, syntax.Scan):
        yield from _scan(sel.selector, node, env)
    elif isinstance(node, list | dict | str):  # syntax.Length
        yield len(node)


def _scan(selector: syntax.Selector, node: Any, env: _Env) -> Iterator[Any]:
    """Deep scan, pre-order as Jayway walks: the node itself, then its descendants."""
    if isinstance(selector, syntax.Wildcard):
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


def _indefinite(parsed: syntax.ParsedPath, root: Any, env: _Env) -> list[Any]:
    nodes = [root]
    for at, sel in enumerate(parsed.selectors, start=1):
        if at == len(parsed.selectors) and isinstance(sel, syntax.Names) and len(sel.names) > 1:
            # Jayway merges a leaf multi-property into one object per match (``[*]['a','b']``)
            return [
                {name: node[name] for name in sel.names if name in node}
                for node in nodes
                if isinstance(node, dict)
            ]
        nodes = [match for node in nodes for match in _select(sel, node, env)]
    return nodes


def _evaluate(parsed: syntax.ParsedPath, env: _Env, current: Any = _MISSING) -> Any:
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


#: A compiled path: (data, context, variables) -> what :func:`query` gives for them.
Query = Callable[[Any, Any, "Mapping[str, Any] | None"], Any]


def compile_query(path: str) -> Query:
    """``path`` parsed once: a function giving what ``query(path, data, context=...,
    variables=...)`` gives (the same value, or the same :class:`PathError`).

    A definite path of ``$`` or ``$$`` made of single names and single indexes (the
    common ``$$.Map.Item.Value.key``) is walked directly; at a step that does not
    simply match (not an object, a missing name, an index out of bounds) the path
    is evaluated again from its root the general way, which gives the value or the
    error Jayway would."""
    try:
        parsed = parse_path(path)
    except PathError:

        def malformed(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
            return query(path, data, context=context, variables=variables)  # raises

        return malformed

    def general(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
        return _evaluate(parsed, _Env(data, context, variables))

    steps = _simple_steps(parsed)
    if steps is None:
        return general
    from_context = parsed.root == "$$"

    def walk(data: Any, context: Any, variables: Mapping[str, Any] | None) -> Any:
        node = context if from_context else data
        if node is None and from_context:
            return general(data, context, variables)  # raises: no context object
        for step in steps:
            if isinstance(step, str):
                if isinstance(node, dict) and step in node:
                    node = node[step]
                    continue
            elif isinstance(node, list) and -len(node) <= step < len(node):
                node = node[step]
                continue
            return general(data, context, variables)
        return node

    return walk


def _simple_steps(parsed: syntax.ParsedPath) -> tuple[str | int, ...] | None:
    """The names (str) and indexes (int) of a definite ``$``/``$$`` path made of single
    names and single indexes only; None for any other path."""
    if not parsed.definite or parsed.root not in ("$", "$$"):
        return None
    steps: list[str | int] = []
    for sel in parsed.selectors:
        if isinstance(sel, syntax.Names) and len(sel.names) == 1:
            steps.append(sel.names[0])
        elif isinstance(sel, syntax.Indexes) and len(sel.indexes) == 1:
            steps.append(sel.indexes[0])
        else:
            return None
    return tuple(steps)


# Filters ------------------------------------------------------------------------


def _operand_value(operand: syntax.Operand, item: Any, env: _Env) -> Any:
    if isinstance(operand, syntax.Literal):
        return operand.value
    if isinstance(operand, syntax.Regex):
        return operand
    try:
        return _evaluate(operand.path, env, item)
    except PathError:
        return _MISSING


def _holds(expr: syntax.Expr, item: Any, env: _Env) -> bool:
    if isinstance(expr, syntax.Logical):
        if expr.op == "!":
            return not _holds(expr.operands[0], item, env)
        if expr.op == "&&":
            return all(_holds(e, item, env) for e in expr.operands)
        return any(_holds(e, item, env) for e in expr.operands)
    left = _operand_value(expr.left, item, env)
    if expr.op is None:
        if isinstance(expr.left, syntax.PathOperand) and not expr.left.path.definite:
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
            isinstance(right, syntax.Regex)
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
