"""The compact JSON text of a chunk of plain items, made from a template.

A Distributed Map over an S3 Inventory or a CSV file batches objects that all have
the same keys in the same order and hold short printable ASCII strings (a
bucket, a key, a size). The JSON text of such an object is its values put into
a fixed text: ``{"Bucket":"``, value, ``","Key":"``, value, ... ``"}``.
:func:`chunk_text` checks that a chunk of items is all of that kind and joins
the values of all of them with the literals between them (one list per key list
and item count, kept), which costs a fraction of encoding the chunk with the
JSON encoder. Any other chunk gives
None: the caller encodes it. The text is exactly the encoder's (compact, no
escapes are needed: no quote, backslash or control character occurs).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, NamedTuple

__all__ = ["chunk_text", "plain_text", "templated", "values_text"]

#: Objects with more keys than this are encoded, not templated.
MAX_KEYS = 64
#: Separates keys in the key check; not printable, so no plain key holds it.
_SEP = "\x00"


class _Template(NamedTuple):
    keys: str  # the chunk's keys joined by _SEP, item after item
    literals: list[str]  # the chunk's text around its values: one more than the values


def plain_text(text: str) -> bool:
    """True when ``text`` is printable ASCII with no quote or backslash: its JSON string is
    the text in quotes."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


@functools.lru_cache(maxsize=32)
def _template(keys: tuple[Any, ...], count: int) -> _Template | None:
    """The template of ``count`` objects with ``keys``; None when a key is not plain text."""
    if not keys or len(keys) > MAX_KEYS:
        return None
    if not all(type(key) is str and plain_text(key) for key in keys):
        return None
    first = f'{{"{keys[0]}":"'
    row = [f'","{key}":"' for key in keys[1:]] + [f'"}},{first}']
    literals = [first, *row * count]
    literals[-1] = '"}'
    return _Template(_SEP.join(keys * count), literals)


def _filled(literals: list[str], values: list[str] | tuple[str, ...]) -> str:
    """The literals with the values between them (one value fewer than literals)."""
    parts = [""] * (2 * len(values) + 1)
    parts[::2] = literals
    parts[1::2] = values
    return "".join(parts)


def templated(keys: tuple[str, ...]) -> bool:
    """True when objects with ``keys`` (in that order) can have their text templated."""
    return _template(keys, 1) is not None


def values_text(keys: tuple[str, ...], values: list[str]) -> str | None:
    """:func:`chunk_text` of the objects with ``keys`` holding ``values``, item after item
    (all plain text, see :func:`plain_text`: the caller checked), or None when the keys
    cannot be templated (:func:`chunk_text` gives None for any such objects)."""
    template = _template(keys, len(values) // len(keys)) if keys else None
    return None if template is None else _filled(template.literals, values)


def chunk_text(chunk: list[Any]) -> str | None:
    """The compact JSON of ``chunk``'s items joined by commas, when all are objects with the
    first one's keys, in its order, holding plain-text strings (see :func:`plain_text`);
    else None.

    The key check: the chunk's keys joined by a separator no plain key holds equal the
    first item's keys repeated once per item. Keys are distinct within an object, so each
    item then has exactly the first one's keys, in order.
    """
    if not chunk or type(chunk[0]) is not dict:
        return None
    template = _template(tuple(chunk[0]), len(chunk))
    if template is None or set(map(type, chunk)) != {dict}:
        return None
    if _SEP.join(itertools.chain.from_iterable(chunk)) != template.keys:
        return None
    values = tuple(itertools.chain.from_iterable(map(dict.values, chunk)))
    if len(values) != len(chunk) * len(chunk[0]):  # a later key holding the separator
        return None
    try:
        joined = "".join(values)
    except TypeError:  # a value that is not a string
        return None
    if not plain_text(joined) or set(map(type, values)) != {str}:
        return None
    return _filled(template.literals, values)
