"""Names a JSONata expression reads from a context item that ASL does not provide.

Step Functions evaluates JSONata with no input document: data arrives only as
``$states`` and as variables. A path that starts from a bare field name
(``phone.number``) or from ``$``/``$$`` at the top level reads nothing, and
AWS refuses such a definition:

    UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'phone' at the top level is not supported.

Names inside predicates, later path steps, sort terms, groupings, lambda
bodies and transforms are relative to an item the expression produced itself,
so they are fine.
"""

from __future__ import annotations

from typing import Any, Final

from jsonata.jsonata import Jsonata

#: Children evaluated in the same context as their parent node.
_SAME_CONTEXT: Final[tuple[str, ...]] = (
    "lhs",
    "rhs",
    "expression",
    "expressions",
    "procedure",
    "arguments",
    "condition",
    "then",
    "_else",
)

#: Children evaluated against some item, never against the (absent) root.
_INNER_CONTEXT: Final[tuple[str, ...]] = ("body", "pattern", "update", "delete")

#: How the root-context variables ``$`` and ``$$`` are spelled in the parse tree.
_ROOT_VARIABLES: Final[dict[str, str]] = {"": "$", "$": "$$"}


def top_level_references(expr: str) -> list[str]:
    """The names ``expr`` reads from the missing context item, in order of appearance.

    ``expr`` is the text inside the ``{% %}`` delimiters and must compile
    (check it with :func:`montemap.asl.jsonata_query.syntax_error` first).
    """
    found: list[str] = []
    _visit(Jsonata(expr).ast, True, found)
    return found


def _visit(node: Any, root: bool, found: list[str]) -> None:
    if node is None:
        return
    if isinstance(node, list | tuple):
        for item in node:
            _visit(item, root, found)
        return
    kind = getattr(node, "type", None)
    if kind == "path":
        steps = node.steps or []
        for index, step in enumerate(steps):
            _visit(step, root and index == 0, found)
    elif kind == "name" and root:
        _note(str(node.value), found)
    elif kind == "variable" and root and node.value in _ROOT_VARIABLES:
        _note(_ROOT_VARIABLES[node.value], found)
    for attribute in _SAME_CONTEXT:
        _visit(getattr(node, attribute, None), root, found)
    _visit(getattr(node, "lhs_object", None), root if kind == "unary" else False, found)
    for attribute in _INNER_CONTEXT:
        _visit(getattr(node, attribute, None), False, found)
    for stage in (getattr(node, "stages", None) or []) + (getattr(node, "predicate", None) or []):
        _visit(getattr(stage, "expr", None), False, found)
    for term in getattr(node, "terms", None) or []:
        _visit(getattr(term, "expression", None), False, found)
    group = getattr(node, "group", None)
    if group is not None:
        _visit(getattr(group, "lhs_object", None), False, found)


def _note(name: str, found: list[str]) -> None:
    if name not in found:
        found.append(name)
