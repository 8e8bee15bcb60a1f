"""The Distributed Map ``ItemReader``: items streamed from the object store.

``read_items`` takes the state's ``ItemReader`` with its ``Parameters`` (or
JSONata ``Arguments``) already resolved and yields the items one by one, the
way AWS Step Functions produces them, never holding the whole data set:

* ``arn:aws:states:::s3:getObject`` with ``ReaderConfig.InputType``
  ``JSON`` (a top-level array, parsed incrementally), ``JSONL`` (one value a
  line), ``CSV`` (objects of header -> string), ``MANIFEST`` (an S3 Inventory
  ``manifest.json``; items are its CSV rows, gzip or plain by content, keyed
  by ``fileSchema``) and
  ``PARQUET`` (objects of column -> value, read batch by batch);
* ``arn:aws:states:::s3:listObjectsV2`` with ``Bucket`` and ``Prefix``: one
  item per object (``Etag``, ``Key``, ``LastModified``, ``Size``,
  ``StorageClass``), page by page; with ``ReaderConfig.Transformation``
  ``LOAD_AND_FLATTEN`` and an ``InputType`` (CSV, JSON, JSONL, PARQUET), the
  items read from each listed object in turn (keys ending in ``/`` skipped).

Every failure (a missing bucket or key, unreadable or malformed data, a bad
configuration value) raises ``StatesError("States.ItemReaderFailed", cause)``
whose cause names the object and, for text formats, the line.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from montemap.engine.inventory_rows import InventoryRows
from montemap.engine.reader_config import (
    LOAD_AND_FLATTEN,
    ReaderSource,
    parse_reader,
    reader_failure,
)
from montemap.engine.reader_csv import csv_items, manifest_items
from montemap.engine.reader_json import json_items, jsonl_items
from montemap.engine.reader_parquet import parquet_items
from montemap.storage.base import ObjectStore, ObjectStoreError

__all__ = ["read_items"]


def read_items(
    store: ObjectStore, reader: Mapping[str, Any], *, max_items: int | None = None
) -> Iterator[Any]:
    """The items of a resolved ``ItemReader``, streamed; at most ``max_items`` of them.

    ``max_items`` (the resolved ``MaxItems``/``MaxItemsPath``) overrides
    ``ReaderConfig.MaxItems``; 0 or ``None`` means no limit. The configuration
    is checked here, before the first item is read.
    """
    source = parse_reader(reader, max_items)
    if source.transformation == LOAD_AND_FLATTEN:
        items = _flattened_objects(store, source)
    elif source.action == "listObjectsV2":
        items = _listed_objects(store, source)
    else:
        parse = _PARSERS[source.input_type or ""]
        items = parse(store, source)
    if source.max_items and not isinstance(items, InventoryRows):  # those stop by themselves
        items = itertools.islice(items, source.max_items)
    return items


def _flattened_objects(store: ObjectStore, source: ReaderSource) -> Iterator[Any]:
    """LOAD_AND_FLATTEN: the items of every object under the prefix, object by object.

    Keys ending in ``/`` (the console's empty "folders") hold no data and are skipped.
    """
    parse = _PARSERS[source.input_type or ""]
    for listed in _listed_objects(store, source):
        key = listed["Key"]
        if not key.endswith("/"):
            yield from parse(store, replace(source, action="getObject", key=key))


def _listed_objects(store: ObjectStore, source: ReaderSource) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        try:
            page = store.list_page(source.bucket, source.key, token=token)
        except ObjectStoreError as exc:
            raise reader_failure(f"Failed to list {source.where}: {exc.code}: {exc}")
        for obj in page.objects:
            yield {
                "Etag": f'"{obj.etag}"',  # quoted, as S3 lists it
                "Key": obj.key,
                "LastModified": int(obj.last_modified),
                "Size": obj.size,
                "StorageClass": obj.storage_class,
            }
        if page.next_token is None:
            return
        token = page.next_token


_PARSERS: dict[str, Callable[[ObjectStore, ReaderSource], Iterator[Any]]] = {
    "JSON": json_items,
    "JSONL": jsonl_items,
    "CSV": csv_items,
    "MANIFEST": manifest_items,
    "PARQUET": parquet_items,
}
