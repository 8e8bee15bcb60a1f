"""Byte and text streams for the ItemReader: opening objects, gzip by content, seeking.

Each helper turns a store or decoding failure into the reader's
``States.ItemReaderFailed`` error naming the object.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from montemap.engine.reader_config import reader_failure
from montemap.errors import StatesError
from montemap.storage.base import ObjectStore, ObjectStoreError

__all__ = ["failure_for", "maybe_gunzip", "open_object", "seekable", "text_stream"]

#: The first two bytes of every gzip stream.
_GZIP_MAGIC = b"\x1f\x8b"


def open_object(store: ObjectStore, bucket: str, key: str) -> BinaryIO:
    try:
        return store.open(bucket, key)
    except ObjectStoreError as exc:
        raise reader_failure(f"Failed to read s3://{bucket}/{key}: {exc.code}: {exc}")


def text_stream(
    stream: BinaryIO | gzip.GzipFile, *, newline: str | None = None
) -> io.TextIOWrapper:
    # utf-8-sig: tolerate a byte order mark, as spreadsheet exports carry one.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline=newline)


def failure_for(where: str) -> Callable[[Exception], StatesError]:
    """The cause for an unexpected failure while reading ``where``."""

    def wrap(exc: Exception) -> StatesError:
        if isinstance(exc, UnicodeDecodeError):
            return reader_failure(
                f"{where} is not valid UTF-8 text (byte offset {exc.start} of a chunk)"
            )
        if isinstance(exc, ObjectStoreError):
            return reader_failure(f"Failed to read {where}: {exc.code}: {exc}")
        return reader_failure(f"Failed to read {where}: {exc}")

    return wrap


def maybe_gunzip(raw: BinaryIO) -> BinaryIO | gzip.GzipFile:
    """The stream itself, or its decompressed bytes when it starts with gzip's magic bytes.

    S3 Inventory writes gzip CSV; hand-made inventories (the workshop's partition
    function) write plain CSV. The content decides, not the key's name.
    """
    peek = getattr(raw, "peek", None)
    if peek is not None:
        head = peek(2)[:2]
        stream = raw
    else:  # no look-ahead: read the first bytes and put them back in front
        head = raw.read(2)
        stream = cast(BinaryIO, _Prefixed(head, raw))
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb")
    return stream


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``rest``: a stream whose first bytes were already read."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def seekable(raw: BinaryIO, where: str) -> BinaryIO:
    """``raw`` if it can seek (Parquet reads its footer first), else a spooled local copy."""
    try:
        if raw.seekable():
            return raw
    except (OSError, ValueError):
        pass
    copy = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
    try:
        shutil.copyfileobj(raw, copy, 1 << 20)
        copy.seek(0)
    except (OSError, ObjectStoreError) as exc:
        copy.close()
        raise failure_for(where)(exc)
    return copy
