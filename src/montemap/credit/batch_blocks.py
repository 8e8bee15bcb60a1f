"""Where each batch's scenarios lie in its ``loans.arrow``, learned once, read directly.

The reduction's per-loan passes read every batch once per scenario. Opened as an
Arrow IPC *file*, a batch's footer (its schema and the place of every record batch)
is read and parsed each time, on Arrow's I/O threads: the larger part of a read's
cost. :class:`ScenarioBlocks` instead reads a batch's file the first time as the
stream it contains (after the file's leading magic: the schema message, then one
record batch message per scenario, then the end-of-stream marker), and keeps where
each scenario's message starts (one integer per batch and scenario; the schemas,
the same for every batch, are kept once). Every later read reads the scenario's
message's bytes alone (one ``pread`` of a local file: no mapping made and dropped)
and decodes it with the kept schema: no footer. A file laid out otherwise (an older
layout, a Parquet file of earlier versions, a stream with dictionaries) is read
through :func:`batch_rows.open_batch_rows` as before. Nothing stays open between
reads (the rows a read returns keep the bytes or the mapping they use). At 500,000
loans (1,250 batches, 4 scenarios) pass 2's reads took ~0.7 s of CPU less.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from montemap.credit.batch_rows import LOANS_FILE, mapped_stream, open_batch_rows
from montemap.storage import ObjectStore, ObjectStoreError

#: The leading bytes of an Arrow IPC file (magic, padded to 8 bytes).
_MAGIC = b"ARROW1\x00\x00"
#: Marks in the table of schemas: not read yet; read the general way.
_UNKNOWN, _GENERAL = -1, -2


class ScenarioBlocks:
    """Scenario record batches of ``batches`` batches (by position), each of
    ``shocks`` scenarios, read from the store (see the module's doc)."""

    def __init__(self, batches: int, shocks: Sequence[int]) -> None:
        self.shocks = list(shocks)
        #: Per batch where each scenario's message starts, and where the last one ends.
        self._offsets = np.zeros((batches, len(self.shocks) + 1), dtype=np.int64)
        self._schema_of = np.full(batches, _UNKNOWN, dtype=np.int32)
        self._schemas: list[pa.Schema] = []
        self._schema_ids: dict[bytes, int] = {}

    def scenario(
        self, store: ObjectStore, bucket: str, folder: str, position: int, index: int
    ) -> pa.Table:
        """Scenario ``index``'s rows of the batch at ``position`` whose outputs lie under
        ``folder``. Raises :class:`ObjectStoreError` for a missing object and Arrow's
        errors (:class:`pyarrow.ArrowException`, :class:`OSError`,
        :class:`ValueError`) for an unreadable file."""
        known = int(self._schema_of[position])
        if known == _GENERAL:
            return self._general(store, bucket, folder, index)
        try:
            stream = store.open(bucket, folder + LOANS_FILE)
        except ObjectStoreError as exc:
            if exc.code != "NoSuchKey":
                raise
            self._schema_of[position] = _GENERAL  # a batch of earlier versions
            return self._general(store, bucket, folder, index)
        if known != _UNKNOWN:
            start, end = (int(x) for x in self._offsets[position, index : index + 2])
            with stream:
                data = _read_range(stream, start, end - start)
            message = ipc.read_message(data)
            return pa.Table.from_batches([ipc.read_record_batch(message, self._schemas[known])])
        source = _source(stream)
        try:
            batch = self._learn(source, position, index)
        finally:
            source.close()
        if batch is None:
            self._schema_of[position] = _GENERAL
            return self._general(store, bucket, folder, index)
        return pa.Table.from_batches([batch])

    def _learn(self, source: pa.NativeFile, position: int, index: int) -> pa.RecordBatch | None:
        """Walk the file's stream, keep each scenario's offset and the schema; the record
        batch of scenario ``index``, or ``None`` when the file is not laid out one record
        batch per scenario (then nothing is kept)."""
        if source.read(len(_MAGIC)) != _MAGIC:
            return None
        messages = ipc.MessageReader.open_stream(source)
        head = messages.read_next_message()
        if head.type != "schema":
            return None
        schema = ipc.read_schema(head)
        offsets: list[int] = []
        wanted: ipc.Message | None = None
        while True:
            at = source.tell()
            try:
                message = messages.read_next_message()
            except StopIteration:  # the end-of-stream marker
                break
            except (pa.ArrowException, OSError, ValueError):  # no marker: the footer
                return None  # follows (read the general way, which raises if unreadable)
            if message.type != "record batch" or len(offsets) == len(self.shocks):
                return None
            if len(offsets) == index:
                wanted = message
            offsets.append(at)
        if len(offsets) != len(self.shocks) or wanted is None:
            return None
        offsets.append(at)  # the end of the last one
        key = head.metadata.to_pybytes()
        schema_id = self._schema_ids.get(key)
        if schema_id is None:
            schema_id = self._schema_ids[key] = len(self._schemas)
            self._schemas.append(schema)
        self._offsets[position] = offsets
        self._schema_of[position] = schema_id
        return ipc.read_record_batch(wanted, self._schemas[schema_id])

    def _general(self, store: ObjectStore, bucket: str, folder: str, index: int) -> pa.Table:
        with open_batch_rows(store, bucket, folder, self.shocks) as rows:
            return rows.scenario(index)


def _read_range(stream: BinaryIO, start: int, size: int) -> pa.Buffer:
    """``size`` bytes of the object from ``start``; a file's with one ``pread``: no
    mapping to make and drop for one message. The bytes are Python's (in Arrow's pool,
    which keeps much of what is freed, the reduction of 500,000 loans peaked ~10 MB
    higher, with more CPU)."""
    try:
        fd: int | None = stream.fileno() if hasattr(os, "pread") else None
    except (AttributeError, OSError, ValueError):  # not a file (io.UnsupportedOperation)
        fd = None
    if fd is not None:
        data = os.pread(fd, size, start)
    elif stream.seekable():
        stream.seek(start)
        data = stream.read(size)
    else:  # a stream read from its start (an S3 object's body): no further than needed
        data = stream.read(start + size)[start:]
    if len(data) != size:
        raise OSError(f"{LOANS_FILE} ended {size - len(data)} bytes early")
    return pa.py_buffer(data)


def _source(stream: BinaryIO) -> pa.NativeFile:
    """The object's stream as a file Arrow reads: mapped where it is a local file, else
    Arrow's wrapper of the stream (read whole first when it cannot seek)."""
    mapped = mapped_stream(stream)
    if isinstance(mapped, pa.NativeFile):
        return mapped
    if not mapped.seekable():
        data = mapped.read()
        mapped.close()
        return pa.BufferReader(data)
    return pa.PythonFile(mapped, "r")
