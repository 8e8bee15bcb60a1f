"""Items of an iterator made on a second thread, a few ahead of their use.

The reduction's reads (opening each batch's rows, Arrow's decoding and concatenation)
and its sums alternate on one thread; much of either runs without the GIL, so
:func:`prefetched` makes the next items while the current one is summed. At most
``depth`` items wait (memory stays bounded); an error while making an item is raised
where that item would have been used; when the consumer stops early the maker stops
after the item in hand.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _End(Generic[T]):
    """The maker's last word: done (``error`` None) or failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """``items``, made on a thread of their own up to ``depth`` ahead."""
    waiting: queue.Queue[T | _End[T]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                waiting.put(item)
                if stop.is_set():
                    break
            waiting.put(_End())
        except BaseException as exc:  # handed to the consumer
            waiting.put(_End(exc))

    maker = threading.Thread(target=make, name="reduce-prefetch", daemon=True)
    maker.start()
    ended = False
    try:
        while True:
            item = waiting.get()
            if isinstance(item, _End):
                ended = True
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        while not ended:  # let the maker finish the item in hand and end
            ended = isinstance(waiting.get(), _End)
        maker.join()
