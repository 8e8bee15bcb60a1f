"""The ItemReader's Parquet input: rows as JSON objects, read batch by batch."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Iterator
from typing import Any

from montemap.engine.reader_config import ReaderSource, reader_failure
from montemap.engine.reader_streams import open_object, seekable
from montemap.storage.base import ObjectStore

__all__ = ["parquet_items"]


def parquet_items(store: ObjectStore, source: ReaderSource) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = source.where
    with open_object(store, source.bucket, source.key) as raw, seekable(raw, where) as f:
        try:
            parquet = pq.ParquetFile(f)
            for batch in parquet.iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    yield {name: _jsonable(value) for name, value in row.items()}
        except (pa.ArrowException, OSError) as exc:
            raise reader_failure(f"{where} is not a readable Parquet file: {exc}")


def _jsonable(value: Any) -> Any:
    """A Parquet value as JSON data: dates as ISO 8601, decimals as strings, bytes as text
    (base64 when not UTF-8), NaN and infinities as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Parquet maps arrive as lists of (key, value) pairs.
        return [_jsonable(v) for v in value]
    return str(value)
