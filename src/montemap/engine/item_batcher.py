"""The Distributed Map ``ItemBatcher``: items grouped into child execution inputs.

Each batch is AWS's shape, ``{"BatchInput": ..., "Items": [...]}`` (the
``BatchInput`` key only when one is given). A batch closes when it holds
``MaxItemsPerBatch`` items or when one more item would make the serialized
batch - the whole child input, envelope and ``BatchInput`` included, as
compact UTF-8 JSON - larger than ``MaxInputBytesPerBatch``. Every batch also
stays within the 256 KiB payload quota, whether or not a byte limit is
given. Items are consumed as batches are taken, so memory holds one batch.

:meth:`Batches.text` gives a batch's compact JSON text (the child's input). A
batch made of plain chunks (see :mod:`montemap.engine.batch_text`) has its text
made from templates while it is filled; any other is encoded.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from montemap.engine.batch_text import chunk_text
from montemap.engine.item_chunks import taker
from montemap.engine.jsontext import compact_dumps
from montemap.errors import ITEM_READER_FAILED, RUNTIME, StatesError

__all__ = ["MAX_BATCH_BYTES", "Batches", "batch_items", "serialized_size"]

#: The payload quota of a child execution's input, and the largest MaxInputBytesPerBatch.
MAX_BATCH_BYTES = 256 * 1024
#: Items taken at once when no MaxItemsPerBatch bounds a batch.
CHUNK = 256

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_EMPTY_BATCH = len('{"Items":[]}')
_BATCH_INPUT_KEY = len('"BatchInput":,')


def serialized_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON, the way payload sizes are measured."""
    return len(_ENCODER.encode(value).encode("utf-8"))


def _item_size(value: Any) -> int:
    """:func:`serialized_size`, without encoding the common item: a non-empty object of
    printable ASCII strings with no quote or backslash (an S3 Inventory or CSV row, a
    listed object's keys), whose compact JSON is its text plus ``{}``, quotes, ``:`` and
    ``,``. Anything else is encoded."""
    if type(value) is dict and value:
        try:
            text = "".join(value) + "".join(value.values())
        except TypeError:  # a key or value that is not a string
            return serialized_size(value)
        if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
            return len(text) + 6 * len(value) + 1
    return serialized_size(value)


def batch_items(
    items: Iterable[Any],
    *,
    max_items: int | None,
    max_bytes: int | None,
    batch_input: Any | None,
) -> Batches:
    """Group ``items`` into batches; limits are checked now, items as they are consumed.

    ``max_items``/``max_bytes`` are the resolved ``MaxItemsPerBatch``/
    ``MaxInputBytesPerBatch`` (``None`` when not set). An item that does not
    fit in an empty batch fails with ``States.ItemReaderFailed``.
    """
    count_limit = _positive("MaxItemsPerBatch", max_items, None)
    byte_limit = _positive("MaxInputBytesPerBatch", max_bytes, MAX_BATCH_BYTES) or MAX_BATCH_BYTES
    empty = _EMPTY_BATCH
    prefix = '{"Items":['
    if batch_input is not None:
        try:
            input_text = _ENCODER.encode(batch_input)
            empty += _BATCH_INPUT_KEY + len(input_text.encode("utf-8"))
            prefix = f'{{"BatchInput":{input_text},"Items":['
        except (TypeError, ValueError) as exc:
            raise StatesError(RUNTIME, f"ItemBatcher BatchInput is not JSON data: {exc}")
        if empty > byte_limit:
            raise StatesError(
                ITEM_READER_FAILED,
                f"The BatchInput alone makes a batch of {empty} bytes, more than the "
                f"{byte_limit} bytes MaxInputBytesPerBatch allows.",
            )
    state = _Batching(empty, prefix)
    return Batches(_batches(iter(items), state, count_limit, byte_limit, batch_input), state)


class Batches(Iterator[dict[str, Any]]):
    """The batches, as they are taken; :meth:`text` gives a batch's compact JSON."""

    def __init__(self, batches: Iterator[dict[str, Any]], state: _Batching) -> None:
        self._batches = batches
        self._state = state

    def __next__(self) -> dict[str, Any]:
        return next(self._batches)

    def text(self, batch: dict[str, Any]) -> str:
        """``batch``'s compact JSON text: the one made while it was filled when ``batch`` is
        the last one taken and was made of plain chunks, else encoded now."""
        last = self._state.last
        if last is not None and last[0] is batch:
            return last[1]
        return compact_dumps(batch)


def _batches(
    items: Iterator[Any],
    state: _Batching,
    count_limit: int | None,
    byte_limit: int,
    batch_input: Any,
) -> Iterator[dict[str, Any]]:
    """The batches, taken a chunk of items at a time.

    A chunk is what the batch still lacks (``MaxItemsPerBatch`` minus what it holds, or
    :data:`CHUNK` items without a count limit), taken with the items' ``take`` when they
    have one (:class:`~montemap.engine.inventory_rows.InventoryRows`, which may give the
    chunk's text too; see :mod:`montemap.engine.item_chunks`). A chunk of plain items (see
    :func:`_chunk_size`) that fits in the batch joins it whole; any other chunk goes
    through :func:`_one_by_one`, the rules item by item. The batches are the same
    either way. An exception from ``items`` is raised once the items before it are
    placed (and the batches they closed yielded), as reading item by item would.
    """
    take = taker(items)
    while True:
        want = CHUNK if count_limit is None else count_limit - len(state.batch)
        chunk, text, error = take(want)
        if error is not None:
            yield from _one_by_one(state, chunk, count_limit, byte_limit, batch_input)
            raise error
        if text is None:
            text = chunk_text(chunk)
        added = len(text) if text is not None else _chunk_size(chunk)
        if added is not None and state.batch:
            added += 1  # the comma before the chunk
        if added is not None and state.size + added <= byte_limit:
            state.batch.extend(chunk)
            state.size += added
            state.index += len(chunk)
            state.joined(chunk, text)
            if count_limit is not None and len(state.batch) >= count_limit:
                yield state.close(batch_input)
        else:
            yield from _one_by_one(state, chunk, count_limit, byte_limit, batch_input)
        if len(chunk) < want:  # the items ran out
            if state.batch:
                yield state.close(batch_input)
            return


class _Batching:
    """The batch being filled, its serialized size, the index of the next item, the texts
    of its chunks (None once an item joined it otherwise), and the last batch taken with
    its text (None when it had no texts)."""

    def __init__(self, empty: int, prefix: str) -> None:
        self.empty = empty
        self.prefix = prefix  # the batch's text before its first item
        self.batch: list[Any] = []
        self.size = empty
        self.index = 0
        self.parts: list[str] | None = []
        self.last: tuple[dict[str, Any], str] | None = None

    def joined(self, chunk: list[Any], text: str | None) -> None:
        """``chunk`` (whose text is ``text``, None when not made) joined the batch."""
        if not chunk or self.parts is None:
            return
        if text is None:
            self.parts = None
        else:
            self.parts.append(text)

    def close(self, batch_input: Any) -> dict[str, Any]:
        batch = _batch(self.batch, batch_input)
        parts = self.parts
        self.last = None if parts is None else (batch, f"{self.prefix}{','.join(parts)}]}}")
        self.batch, self.size, self.parts = [], self.empty, []
        return batch


def _one_by_one(
    state: _Batching,
    chunk: list[Any],
    count_limit: int | None,
    byte_limit: int,
    batch_input: Any,
) -> Iterator[dict[str, Any]]:
    """Place ``chunk``'s items one at a time: each is sized, and closes the batch or joins it."""
    for item in chunk:
        index = state.index
        state.index += 1
        try:
            item_size = _item_size(item)
        except (TypeError, ValueError) as exc:
            raise StatesError(RUNTIME, f"Item at index {index} is not JSON data: {exc}")
        if state.batch and state.size + 1 + item_size > byte_limit:
            yield state.close(batch_input)
        if state.size + item_size > byte_limit:
            raise StatesError(
                ITEM_READER_FAILED,
                f"The item at index {index} is {item_size} bytes; a batch holding only it "
                f"would be {state.empty + item_size} bytes, more than the {byte_limit} bytes "
                "MaxInputBytesPerBatch allows.",
            )
        state.size += item_size + (1 if state.batch else 0)
        state.batch.append(item)
        state.parts = None  # joined one by one: the batch's text is encoded when asked
        if count_limit is not None and len(state.batch) >= count_limit:
            yield state.close(batch_input)


def _chunk_size(chunk: list[Any]) -> int | None:
    """The items' :func:`_item_size` summed, plus a comma between each two, measured in
    one pass when all are plain (non-empty objects of printable ASCII strings with no
    quote or backslash); None when any is not: size them one by one."""
    if not chunk:
        return 0
    if set(map(type, chunk)) != {dict}:
        return None
    widths = list(map(len, chunk))
    if not min(widths):
        return None
    try:
        text = "".join(itertools.chain.from_iterable(chunk))
        text += "".join(itertools.chain.from_iterable(map(dict.values, chunk)))
    except TypeError:  # a key or value that is not a string
        return None
    if not (text.isascii() and text.isprintable()) or '"' in text or "\\" in text:
        return None
    # Each item: its text, 6 per member (quotes, colon, comma), and {} less one comma;
    # between items, one comma each.
    return len(text) + 6 * sum(widths) + 2 * len(chunk) - 1


def _batch(batch: list[Any], batch_input: Any) -> dict[str, Any]:
    if batch_input is None:
        return {"Items": batch}
    # Each child gets its own copy: a consumer that changes one batch changes no other.
    return {"BatchInput": copy.deepcopy(batch_input), "Items": batch}


def _positive(name: str, value: float | None, maximum: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        value = int(value)  # 2.0 is 2, as at create time
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StatesError(RUNTIME, f"ItemBatcher {name} must be a positive integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise StatesError(
            RUNTIME, f"ItemBatcher {name} must be at most {maximum} (256 KiB), got {value}"
        )
    return value
