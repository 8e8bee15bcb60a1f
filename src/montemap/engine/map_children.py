"""``itemCount`` of a Map Run's children, as ``ListExecutions(mapRunArn=...)`` reports it.

AWS returns, for each child listed by Map Run, the number of items it processed:
one, or the size of its batch when the Map state has an ``ItemBatcher``. Whether
it has one is read from the parent's definition (state names are unique in a
whole definition, nested ones included), not guessed from the child's input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["find_state", "item_count"]


def _states(node: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    states = node.get("States")
    if isinstance(states, Mapping):
        for name, state in states.items():
            yield name, state
            if not isinstance(state, Mapping):
                continue
            for branch in state.get("Branches") or ():
                if isinstance(branch, Mapping):
                    yield from _states(branch)
            for key in ("ItemProcessor", "Iterator"):
                inner = state.get(key)
                if isinstance(inner, Mapping):
                    yield from _states(inner)


def find_state(definition: str, name: str) -> Mapping[str, Any] | None:
    """The state called ``name`` anywhere in ``definition`` (JSON text), or None."""
    try:
        root = json.loads(definition)
    except (TypeError, ValueError):
        return None
    if not isinstance(root, Mapping):
        return None
    for found, state in _states(root):
        if found == name and isinstance(state, Mapping):
            return state
    return None


def item_count(input_text: str | None, batched: bool) -> int:
    """Items in one child's input: its batch's ``Items`` when ``batched``, else one."""
    if not batched or input_text is None:
        return 1
    try:
        value = json.loads(input_text)
    except ValueError:
        return 1
    items = value.get("Items") if isinstance(value, dict) else None
    return len(items) if isinstance(items, list) else 1
