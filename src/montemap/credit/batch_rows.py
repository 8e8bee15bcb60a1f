"""A batch's per-loan rows on disk, written by the batch and read by the reduction.

The batch writes its rows to ``loans.arrow``: an Arrow IPC *file* (random access),
uncompressed, with the schema of docs/model.md and **one record batch per scenario**,
in the order of the run's ``shocks_bp``, each holding that scenario's rows sorted by
key (every scenario has the same loans, so each record batch has ``loans`` rows, the
count ``batch.json`` gives). Written this way the file costs a copy of the columns
(no encoding, no compression, no statistics) and a reader takes one scenario's
columns without decoding anything.

Batches written before this layout hold ``loans.parquet`` (one row group per
scenario): :func:`open_batch_rows` reads either, so a run prefix with outputs of
both versions reduces the same.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from montemap.storage import ObjectStore, ObjectStoreError

if TYPE_CHECKING:  # imported where a legacy file is read: the batch writes no Parquet
    import pyarrow.parquet as pq

#: The file name of a batch's rows (Arrow IPC file, one record batch per scenario).
LOANS_FILE = "loans.arrow"
#: The file name of a batch's rows in outputs of earlier versions (Parquet).
LEGACY_LOANS_FILE = "loans.parquet"

#: What a batch's rows are read from: the object's stream, or its file's bytes mapped.
_Source: TypeAlias = "BinaryIO | pa.MemoryMappedFile"


#: Per thread, the buffer :func:`encode_rows_bytes` writes into (kept between batches).
_scratch = threading.local()


def encode_rows(table: pa.Table, scenarios: int) -> pa.Buffer:
    """``table`` (``scenarios`` equal blocks of rows, one per scenario in the run's order,
    each sorted by key) as an Arrow IPC file with one record batch per scenario."""
    sink = pa.BufferOutputStream()
    _write_rows(sink, table, scenarios)
    return sink.getvalue()


def encode_rows_bytes(table: pa.Table, scenarios: int) -> bytes:
    """``encode_rows(table, scenarios).to_pybytes()``, the file written into a buffer this
    thread keeps from batch to batch (its memory stays mapped: no growing stream, no
    fresh pages for every batch), then copied out. A file that does not fit is encoded
    the usual way, and the kept buffer made large enough for the next."""
    buffer: pa.Buffer | None = getattr(_scratch, "buffer", None)
    if buffer is not None:
        sink = pa.FixedSizeBufferWriter(buffer)
        try:
            _write_rows(sink, table, scenarios)
        except OSError:  # does not fit ("Write out of bounds")
            pass
        else:
            return bytes(buffer.slice(0, sink.tell()).to_pybytes())
    data = encode_rows(table, scenarios)
    _scratch.buffer = pa.allocate_buffer(max(1 << 20, 2 * data.size))
    return bytes(data.to_pybytes())


def _write_rows(sink: pa.NativeFile, table: pa.Table, scenarios: int) -> None:
    rows = table.num_rows // max(1, scenarios)
    if rows * scenarios != table.num_rows:
        raise ValueError(f"{table.num_rows} rows do not split into {scenarios} scenarios")
    whole = table.to_batches()
    with ipc.new_file(sink, table.schema) as writer:
        if rows and len(whole) == 1:  # every column in one piece: cut it at the scenarios
            for j in range(scenarios):
                writer.write_batch(whole[0].slice(j * rows, rows))
        else:
            for j in range(scenarios):
                part = table.slice(j * rows, rows)
                if not rows:
                    writer.write_batch(pa.RecordBatch.from_pylist([], schema=table.schema))
                    continue
                if any(column.num_chunks != 1 for column in part.columns):
                    part = part.combine_chunks()  # so the scenario is one record batch
                writer.write_table(part)


class BatchRows:
    """One batch's rows, in either layout; ``scenario(j)`` gives scenario ``j`` (the index
    into the run's ``shocks_bp``). The file :func:`open_batch_rows` opened (and checked)
    serves the first read; after it nothing stays open between calls: each call opens the
    object, reads what it needs (from a seekable stream, only the footer and that
    scenario's record batch; a local store's file is mapped, so Arrow reads it without
    Python's file calls) and closes it; an object whose stream cannot seek is read once
    and kept in memory. Use it as a context manager, or read from it at least once, so
    the first file is closed."""

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        shocks: Sequence[int],
        data: bytes | None,
        opened: tuple[_Source, ipc.RecordBatchFileReader | pq.ParquetFile] | None = None,
    ) -> None:
        self._store, self._bucket, self._key = store, bucket, key
        self._shocks = list(shocks)
        self._data = data
        self._opened = opened
        self.legacy = key.endswith(LEGACY_LOANS_FILE)

    def __enter__(self) -> BatchRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._data = None
        if self._opened is not None:
            self._opened[0].close()
            self._opened = None

    @contextlib.contextmanager
    def _source(self) -> Iterator[ipc.RecordBatchFileReader | pq.ParquetFile]:
        if self._opened is not None:  # the file opened to check it serves the first read
            stream, reader = self._opened
            self._opened = None
            try:
                yield reader
            finally:
                stream.close()
            return
        stream = (
            io.BytesIO(self._data)
            if self._data is not None
            else self._store.open(self._bucket, self._key)
        )
        source: _Source = stream
        try:
            source = mapped_stream(stream)
            yield _reader(source, self.legacy)
        finally:
            source.close()

    def row_counts(self) -> list[int]:
        """Rows per scenario, in the order of ``shocks_bp``."""
        k = len(self._shocks)
        with self._source() as source:
            if isinstance(source, ipc.RecordBatchFileReader):
                if source.num_record_batches == k:
                    return [source.get_batch(j).num_rows for j in range(k)]
                shocks = source.read_all().column("shock_bp").to_numpy()
            else:
                meta = source.metadata
                if meta.num_row_groups == k:
                    return [meta.row_group(j).num_rows for j in range(k)]
                shocks = source.read(columns=["shock_bp"]).column("shock_bp").to_numpy()
        return [int((shocks == s).sum()) for s in self._shocks]

    def scenario(self, index: int, columns: Sequence[str] | None = None) -> pa.Table:
        """Scenario ``index``'s rows (only ``columns``, in that order, when given)."""
        cols = list(columns) if columns is not None else None
        shock, k = self._shocks[index], len(self._shocks)
        with self._source() as source:
            if isinstance(source, ipc.RecordBatchFileReader):
                if source.num_record_batches == k:
                    table = pa.Table.from_batches([source.get_batch(index)])
                else:
                    table = _only(source.read_all(), shock)
                return table if cols is None else table.select(cols)
            if source.metadata.num_row_groups == k:
                return source.read_row_group(index, columns=cols)
            wanted = None if cols is None else list(dict.fromkeys([*cols, "shock_bp"]))
            table = _only(source.read(columns=wanted), shock)
            return table if cols is None else table.select(cols)


def _only(table: pa.Table, shock: int) -> pa.Table:
    return table.filter(pc.equal(pc.field("shock_bp"), shock))


def mapped_stream(stream: BinaryIO) -> _Source:
    """A local file's stream as the file mapped into memory (the stream closed): Arrow
    then reads the footer and record batches in place, without the GIL and its file
    thread pool (a Python stream costs a Python call, holding the GIL, for every read).
    The file is mapped through its descriptor's name (``/proc/self/fd``: the very file
    the store opened) and Arrow's mapping, which keeps no descriptor once closed: what
    was read stays valid, and rows held a while (overlapping batches in pass 2) hold
    no open file. Any other stream (S3's, where there is no ``/proc``) is returned as it
    is. Objects are replaced by renaming a new file over them, so a mapped file never
    changes."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (io.UnsupportedOperation)
        return stream
    try:
        mapped = pa.memory_map(f"/proc/self/fd/{fd}")
    except (OSError, pa.ArrowException):  # no /proc, or a file that cannot be mapped
        return stream
    stream.close()
    return mapped


def _reader(source: _Source, legacy: bool) -> ipc.RecordBatchFileReader | pq.ParquetFile:
    if legacy:
        import pyarrow.parquet as pq

        return pq.ParquetFile(source)
    if isinstance(source, pa.NativeFile):
        return ipc.open_file(source)
    return ipc.open_file(pa.PythonFile(source, "r"))


def open_batch_rows(
    store: ObjectStore, bucket: str, folder: str, shocks: Sequence[int]
) -> BatchRows:
    """The rows of the batch whose outputs lie under ``folder`` (``.../batches/<id>/``):
    ``loans.arrow``, else ``loans.parquet``, checked readable here. Raises
    :class:`ObjectStoreError` when neither exists, and Arrow's errors
    (:class:`pyarrow.ArrowException`, :class:`OSError`, :class:`ValueError`) for an
    unreadable file."""
    key = folder + LOANS_FILE
    try:
        stream = store.open(bucket, key)
    except ObjectStoreError as exc:
        if exc.code != "NoSuchKey":
            raise
        key = folder + LEGACY_LOANS_FILE
        stream = store.open(bucket, key)
    data = None
    source: _Source = stream
    try:
        if not stream.seekable():
            data = stream.read()
            stream.close()
            source = io.BytesIO(data)
        else:
            source = mapped_stream(stream)
        reader = _reader(source, key.endswith(LEGACY_LOANS_FILE))
    except BaseException:
        source.close()
        raise
    return BatchRows(store, bucket, key, shocks, data, (source, reader))
