"""The ``ItemSelector`` of a batched Distributed Map: each item selected before it is batched.

AWS applies a Distributed Map's fields in this order: ``ItemReader``, ``ItemsPath``
(or ``Items``), ``ItemSelector``, ``ItemBatcher``, ``ResultWriter``. So with an
``ItemBatcher`` each item goes through the ``ItemSelector`` first, with
``$$.Map.Item.Index`` (``$states.context.Map.Item.Index`` in JSONata) its position
in the whole item list and ``$$.Map.Item.Value`` the item, and the batches (and
``MaxInputBytesPerBatch``) hold the selected items.

The batcher (:func:`~montemap.engine.item_batcher.batch_items`) takes its items
synchronously, a chunk at a time, while selecting may await (a JSONata template
evaluated off the event loop). :class:`SelectedItems` therefore selects ahead:
:meth:`SelectedItems.fill`, awaited before each batch is asked for, selects items
until the buffer holds all that batch can take - ``MaxItemsPerBatch`` items, or,
without a count limit, whole chunks of :data:`~montemap.engine.item_batcher.CHUNK`
items (the batcher takes that many at a time) weighing more than the byte limit -
and the batcher takes from the buffer.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from montemap.engine.item_batcher import CHUNK, MAX_BATCH_BYTES
from montemap.engine.item_chunks import Chunk, taker
from montemap.engine.jsontext import compact_dumps
from montemap.errors import RUNTIME, StatesError

__all__ = ["SelectedItems", "Selector"]

#: Selects one item: (its index in the whole item list, the item) -> the selected item.
Selector = Callable[[int, Any], Awaitable[Any]]


class SelectedItems(Iterator[Any]):
    """``items`` through ``select``, selected ahead by :meth:`fill` and taken by the batcher.

    ``max_items``/``max_bytes`` are the batcher's ``MaxItemsPerBatch`` and
    ``MaxInputBytesPerBatch`` (None when not set; values the batcher refuses make
    :meth:`fill` select nothing, and the batcher then fails on them). ``sync``, when
    given, is ``select`` as a plain function (a JSONPath selector), called instead.
    """

    def __init__(
        self,
        items: Iterator[Any],
        select: Selector,
        *,
        max_items: int | None,
        max_bytes: int | None,
        sync: Callable[[int, Any], Any] | None = None,
    ) -> None:
        self._take_raw = taker(items)
        self._select = select
        self._sync = sync  # ``select`` as a plain function, when it need not await
        self._max_items = max_items
        self._max_bytes = MAX_BATCH_BYTES if max_bytes is None else max_bytes
        # Limits the batcher refuses: it fails on them before taking any item.
        self._refused = (max_items is not None and not _number(max_items)) or not (
            _number(self._max_bytes) and self._max_bytes <= MAX_BATCH_BYTES
        )
        self._buffer: collections.deque[tuple[Any, str]] = collections.deque()  # with its text
        self._sizes: collections.deque[int] = collections.deque()
        self._bytes = 0  # the buffered items' serialized sizes, one comma each
        self._index = 0  # the index of the next item to select
        self._ended = False
        self._error: Exception | None = None

    # ------------------------------------------------------------------ selecting
    async def fill(self, *, everything: bool = False) -> None:
        """Select items until the next batch finds all it takes here (all of them with
        ``everything``); an item that cannot be selected raises its error now."""
        while not (self._ended or self._refused) and (everything or not self._enough()):
            want = CHUNK
            if self._max_items is not None:
                want = max(1, self._max_items - len(self._buffer))
            raw, _text, error = self._take_raw(want)
            for value in raw:
                if self._sync is not None:
                    item = self._sync(self._index, value)
                else:
                    item = await self._select(self._index, value)
                self._index += 1
                try:
                    text = compact_dumps(item)
                except (TypeError, ValueError) as exc:
                    raise StatesError(
                        RUNTIME,
                        f"The ItemSelector of item {self._index - 1} is not JSON data: {exc}",
                    ) from None
                size = (len(text) if text.isascii() else len(text.encode("utf-8"))) + 1
                self._buffer.append((item, text))
                self._sizes.append(size)
                self._bytes += size
            if error is not None:
                self._ended, self._error = True, error
            elif len(raw) < want:
                self._ended = True

    def _enough(self) -> bool:
        """True when the buffer holds all the next batch can take (see the module's notes)."""
        if self._max_items is not None:
            return len(self._buffer) >= self._max_items
        return self._bytes > self._max_bytes

    # ------------------------------------------------------------------ taking
    def take(self, count: int) -> Chunk:
        """Up to ``count`` selected items, their compact JSON text joined by commas when it is
        ASCII (its length is then its size in bytes, as the batcher counts it), and the
        reader's exception once the items before it are taken."""
        n = min(count, len(self._buffer))
        chunk: list[Any] = []
        texts: list[str] = []
        for _ in range(n):
            item, text = self._buffer.popleft()
            chunk.append(item)
            texts.append(text)
            self._bytes -= self._sizes.popleft()
        if n < count and not self._ended:
            raise StatesError(RUNTIME, "The ItemBatcher took items that were not selected yet.")
        error = None
        if n < count and self._error is not None:
            error, self._error = self._error, None
        joined = ",".join(texts)
        return chunk, joined if chunk and joined.isascii() else None, error

    def __next__(self) -> Any:
        chunk, _text, error = self.take(1)
        if error is not None:
            raise error
        if not chunk:
            raise StopIteration
        return chunk[0]


def _number(value: int | None) -> bool:
    """True for a positive integer (a limit the batcher accepts)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
