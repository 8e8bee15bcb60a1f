"""The reduction's Parquet files, encoded on a second thread.

Encoding and compressing Parquet is a large share of the reduction's work and Arrow
does it without holding the GIL, so :class:`BackgroundParquet` hands each chunk to a
thread of its own and returns at once: the file is encoded on the second core while
the main thread reads and sums the next chunk. Chunks are written in the order given,
at most ``DEPTH`` wait (memory stays bounded), and an error in the thread is raised
by the next :meth:`~BackgroundParquet.write` or by :meth:`~BackgroundParquet.close`.

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
import pyarrow.parquet as pq

#: Chunks waiting for the writer thread at most.
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


class BackgroundParquet:
    """A Parquet file written chunk by chunk on a thread of its own; opened on the
    first chunk (its schema is the file's)."""

    def __init__(self, path: Path, options: dict[str, Any]) -> None:
        self.path = path
        self.options = options
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=DEPTH)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def write(self, table: pa.Table) -> None:
        """Queue ``table`` (blocks while ``DEPTH`` chunks wait)."""
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(table.schema,), name="reduce-parquet", daemon=True
            )
            self._thread.start()
        self._queue.put(table)

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
        writer: pq.ParquetWriter | None = None
        try:
            writer = pq.ParquetWriter(str(self.path), schema, **self.options)
            while (table := self._queue.get()) is not None:
                writer.write_table(table)
        except BaseException as exc:  # handed to the main thread
            self._error = exc
            while self._queue.get() is not None:  # let the producer finish
                pass
        finally:
            if writer is not None:
                writer.close()
