"""The reduction's Parquet files, encoded on a second thread.

Encoding and compressing Parquet is a large share of the reduction's work and Arrow
does it without holding the GIL, so :class:`BackgroundParquet` hands each chunk to a
thread of its own and returns at once: the file is encoded on the second core while
the main thread reads and sums the next chunk. Chunks are written in the order given,
at most ``DEPTH`` wait (memory stays bounded), and an error in the thread is raised
by the next :meth:`~BackgroundParquet.write` or by :meth:`~BackgroundParquet.close`.

Each row group is written by :class:`~montemap.credit.parquet_stitch.RowGroupFile`:
Arrow's own ``ParquetWriter`` would keep ~30 KB of metadata per ``loans.parquet`` row
group in the C heap until the file closes (~870 bytes per column chunk, no writer
option shrinks it); this one keeps none, and writes the same bytes. Given
``group_rows``, the thread joins consecutive chunks into row groups of at least that
many rows (joined as chunked columns, not copied); :meth:`~BackgroundParquet.flush`
and :meth:`~BackgroundParquet.close` end a smaller one (the reduction's choice:
:func:`montemap.credit.reduce.writer_shape`). After an error the file is removed.

The options are chosen for the files' shape and cost; the values are what they were.
Snappy rather than zstd (a third less encoding work, files about a tenth larger);
dictionary pages only for the label columns (for columns of distinct values, keys and
figures, they cost a third of the encoding and make the file larger); min/max
statistics only for the columns a reader filters on (key, AccountID, scenario).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

from montemap.credit.parquet_stitch import RowGroupFile

#: Chunks waiting for the writer thread at most (by default).
DEPTH = 2
#: Columns of ``loans.parquet`` with few distinct values (dictionary-encoded).
LABELS = (
    "ZipCode",
    "zip3",
    "LoanType",
    "RateType",
    "rate_bucket",
    "term_bucket",
    "size_band",
    "WillDefault",
)


#: Columns with min/max statistics in both files.
FILTERED = ("key", "AccountID", "shock_bp")


def loans_options() -> dict[str, Any]:
    """``ParquetWriter`` options of ``loans.parquet``."""
    return {
        "compression": "snappy",
        "use_dictionary": list(LABELS),
        "write_statistics": list(FILTERED),
    }


def contributions_options() -> dict[str, Any]:
    """``ParquetWriter`` options of ``contributions.parquet`` (keys and figures only)."""
    return {"compression": "snappy", "use_dictionary": False, "write_statistics": list(FILTERED)}


class _Flush:
    """The marker of a row group's end in the writer's queue."""


_FLUSH = _Flush()


class BackgroundParquet:
    """A Parquet file written chunk by chunk on a thread of its own; opened on the
    first chunk (its schema is the file's). Row groups of at least ``group_rows`` rows
    (by default: each chunk one), at most ``depth`` chunks waiting."""

    def __init__(
        self, path: Path, options: dict[str, Any], *, group_rows: int = 1, depth: int = DEPTH
    ) -> None:
        self.path = path
        self.options = options
        self.group_rows = group_rows
        self._queue: queue.Queue[pa.Table | _Flush | None] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def write(self, table: pa.Table) -> None:
        """Queue ``table`` (blocks while ``depth`` chunks wait)."""
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(table.schema,), name="reduce-parquet", daemon=True
            )
            self._thread.start()
        self._queue.put(table)

    def flush(self) -> None:
        """End the current row group after the chunks given so far (nothing if none)."""
        self._raise()
        if self._thread is not None:
            self._queue.put(_FLUSH)

    def close(self) -> None:
        """Write what is queued, close the file, raise the thread's error if any."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self, schema: pa.Schema) -> None:
        out: RowGroupFile | None = None
        try:
            out = RowGroupFile(self.path, schema, self.options)
            group: list[pa.Table] = []
            rows = 0
            while (item := self._queue.get()) is not None:
                end = not isinstance(item, pa.Table)
                if isinstance(item, pa.Table):
                    _check_schema(self.path, item, schema)
                    group.append(item)
                    rows += item.num_rows
                del item  # held by the group only, not while the next is awaited
                if group and (end or rows >= self.group_rows):
                    _write_group(out, group)
                    group, rows = [], 0
            if group:
                _write_group(out, group)
            out.close()
        except BaseException as exc:  # handed to the main thread
            self._error = exc
            if out is not None:
                out.abort()  # not a Parquet file: removed
            while self._queue.get() is not None:  # let the producer finish
                pass


def _check_schema(path: Path, table: pa.Table, schema: pa.Schema) -> None:
    """Refuse a chunk of another schema as it comes (as the writer would when it is
    written: it may wait in a group)."""
    if not table.schema.equals(schema, check_metadata=False):
        raise ValueError(f"{path}: a chunk's schema does not match the file's:\n{table.schema}")


def _write_group(out: RowGroupFile, tables: list[pa.Table]) -> None:
    """``tables`` as one row group (their columns as chunked arrays: nothing copied)."""
    out.write(tables[0] if len(tables) == 1 else pa.concat_tables(tables))
