"""Items taken a chunk at a time, for the ``ItemBatcher``.

An item source may have a ``take(count)`` method giving a :data:`Chunk`: up to
``count`` items, their compact JSON text when the source made it on the way
(:class:`~montemap.engine.inventory_rows.InventoryRows`), and the exception that
ended them early, raised by the caller once those items are placed. Any other
iterator is taken with :func:`take_items`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Chunk", "take_items", "taker"]

#: A chunk of items, its compact JSON text when made on the way (else None), and the
#: exception that stopped the items after those (else None).
Chunk = tuple[list[Any], str | None, Exception | None]


def take_items(items: Iterator[Any], count: int) -> Chunk:
    """Up to ``count`` of ``items``, no text, and the exception that ended them early."""
    chunk: list[Any] = []
    try:
        chunk.extend(itertools.islice(items, count))  # kept up to an exception
    except Exception as exc:
        return chunk, None, exc
    return chunk, None, None


def taker(items: Iterator[Any]) -> Callable[[int], Chunk]:
    """``items``' own ``take``, or :func:`take_items` of them."""
    take: Callable[[int], Chunk] | None = getattr(items, "take", None)
    if take is not None:
        return take
    return lambda count: take_items(items, count)
