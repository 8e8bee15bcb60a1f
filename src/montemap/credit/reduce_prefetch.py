"""Items of an iterator made on a second thread, a few ahead of their use.

The reduction's reads (opening each batch's rows, Arrow's decoding and concatenation)
and its sums alternate on one thread; much of either runs without the GIL, so
:func:`prefetched` makes the next items while the current one is summed. The thread
starts at once, not at the first item taken: the reduction starts reading a scenario
while it still finishes the one before (its contributions' third pass). At most
``depth`` items wait (memory stays bounded); an error while making an item is raised
where that item would have been used; when the consumer stops early (:meth:`close`)
the maker stops after the item in hand.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _End(Generic[T]):
    """The maker's last word: done (``error`` None) or failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetched(Iterator[T]):
    """``items``, made on a thread of their own up to ``depth`` ahead; :meth:`close` it
    (``contextlib.closing``) whether or not every item was taken."""

    def __init__(self, items: Iterator[T], depth: int = 2) -> None:
        self._waiting: queue.Queue[T | _End[T]] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(
            target=self._make, args=(items,), name="reduce-prefetch", daemon=True
        )
        self._thread.start()

    def _make(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                self._waiting.put(item)
                if self._stop.is_set():
                    break
            self._waiting.put(_End())
        except BaseException as exc:  # handed to the consumer
            self._waiting.put(_End(exc))

    def __iter__(self) -> Prefetched[T]:
        return self

    def __next__(self) -> T:
        if self._ended:
            raise StopIteration
        item = self._waiting.get()
        if isinstance(item, _End):
            self._ended = True
            self._thread.join()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the maker (after the item in hand) and wait for its thread."""
        self._stop.set()
        while not self._ended:  # let the maker finish the item in hand and end
            self._ended = isinstance(self._waiting.get(), _End)
        self._thread.join()


def prefetched(items: Iterator[T], depth: int = 2) -> Prefetched[T]:
    """``items``, made on a thread of their own (started now) up to ``depth`` ahead."""
    return Prefetched(items, depth)
