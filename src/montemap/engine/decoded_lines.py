"""The lines of a byte stream's UTF-8 text, read the way ``io.TextIOWrapper`` reads them.

:class:`DecodedLines` reads and decodes a stream exactly as
``TextIOWrapper(stream, encoding="utf-8-sig", newline="")`` does when it is read
line by line: :data:`CHUNK_BYTES` at a time with ``read1`` (``read`` when the
stream has none), through the same incremental decoders, one more read only when
no complete line is left. So a read or decoding error (a bad gzip stream,
invalid UTF-8) surfaces after the same lines as with the wrapper. A line ends
after ``\\n``, ``\\r\\n`` or a lone ``\\r`` (kept, as ``newline=""`` keeps them).

Besides giving the lines one by one (an iterator, for ``csv.reader``), it
holds the decoded text of the complete lines read so far (:attr:`text`, from
:attr:`pos`), so that a caller can take many lines at once.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["CHUNK_BYTES", "DecodedLines"]

#: The bytes ``TextIOWrapper`` asks its stream for at a time (its ``_CHUNK_SIZE``).
CHUNK_BYTES = 8192

#: One line: up to and including its end, or the rest of the text (the last line).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


class DecodedLines(Iterator[str]):
    """The lines of ``stream``'s text; :attr:`text` from :attr:`pos` holds the complete
    lines read and not yet taken (see :meth:`fill`), :attr:`count` the lines taken."""

    def __init__(self, stream: Any) -> None:
        read1 = getattr(stream, "read1", None)
        self._read: Callable[[int], bytes] = stream.read if read1 is None else read1
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self._decoder = io.IncrementalNewlineDecoder(decoder, translate=False)
        self._tail: list[str] = []  # decoded text after the last line end
        self._eof = False
        self.text = ""
        self.pos = 0
        self.count = 0

    def fill(self) -> bool:
        """Make :attr:`text` hold at least one line from :attr:`pos`, reading as the wrapper
        would: False once the text has ended."""
        while self.pos >= len(self.text):
            if self._eof:
                return False
            data = self._read(CHUNK_BYTES)
            self._eof = not data
            decoded = self._decoder.decode(data, final=self._eof)
            # The newline decoder holds a final "\r" back until it sees what follows it.
            end = len(decoded) if self._eof else max(decoded.rfind("\n"), decoded.rfind("\r")) + 1
            if end or self._eof:
                self._tail.append(decoded[:end])
                self.text, self.pos = "".join(self._tail), 0
                self._tail = [decoded[end:]]
            else:
                self._tail.append(decoded)
        return True

    def __next__(self) -> str:
        if not self.fill():
            raise StopIteration
        found = _LINE.match(self.text, self.pos)
        assert found is not None  # the pattern matches any text, if only an empty one
        self.pos = found.end()
        self.count += 1
        return found.group()

    def skip(self, end: int, lines: int) -> None:
        """Take the ``lines`` lines of :attr:`text` from :attr:`pos` up to ``end``."""
        self.pos = end
        self.count += lines
