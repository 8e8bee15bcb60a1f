"""The JSON text of frames' inputs, kept while a frame checkpoints the same input again.

A frame is checkpointed several times with the same input object (when its
state is entered, when its task is scheduled, when it ends), and a Distributed
Map child's input is a whole batch (hundreds of items, tens of KB): encoding it
at every checkpoint was a large part of the server's work per batch.

State inputs are never changed in place (a new state's input is a new object,
ResultPath copies what it changes), so the same object has the same text. An
entry holds its object, so the object's id cannot be reused while it is kept.
Only large texts are kept (a small one costs less to encode again than to keep),
within a bound on entries and on characters; an entry goes once its frame has
ended, else when newer ones push it out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Texts shorter than this are encoded again each time.
MIN_CHARS = 2048
#: At most this many texts are kept ...
MAX_ENTRIES = 256
#: ... holding at most this many characters in all.
MAX_CHARS = 4 * 1024 * 1024

Key = tuple[str, str]  # (execution ARN, frame key)


class InputTexts:
    """A bounded map (execution ARN, frame key) -> (input object, its JSON text)."""

    def __init__(self, encode: Callable[[Any], str]) -> None:
        self.encode = encode
        self._kept: dict[Key, tuple[Any, str]] = {}  # oldest first
        self._chars = 0

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, key: Key) -> bool:
        return key in self._kept

    def text(self, key: Key, value: Any, *, last: bool = False) -> str:
        """``encode(value)``, reused while ``key`` keeps ``value``; ``last``: its frame ended."""
        if type(value) not in (dict, list):
            return self.encode(value)
        kept = self._kept.get(key)
        if kept is not None and kept[0] is value:
            if last:
                self.forget(key)
            return kept[1]
        text = self.encode(value)
        if kept is not None:
            self.forget(key)  # the frame moved on to another input
        if not last:
            self.remember(key, value, text)
        return text

    def remember(self, key: Key, value: Any, text: str) -> None:
        """Keep ``text``, the encoding of ``value`` (if it is large enough to be worth it)."""
        if len(text) < MIN_CHARS or len(text) > MAX_CHARS or type(value) not in (dict, list):
            return
        self.forget(key)
        self._kept[key] = (value, text)
        self._chars += len(text)
        while len(self._kept) > MAX_ENTRIES or self._chars > MAX_CHARS:
            self.forget(next(iter(self._kept)))  # the oldest

    def forget(self, key: Key) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._chars -= len(kept[1])
