"""The ItemReader's CSV inputs: a CSV object, and the CSV files an S3 Inventory manifest lists.

A ``CSV`` object yields objects of header -> string, headers from its first
row or given in ``ReaderConfig``. A ``MANIFEST`` (an S3 Inventory
``manifest.json``) yields the rows of the files it lists, gzip or plain by
content, keyed by its ``fileSchema`` (read by :mod:`montemap.engine.inventory_rows`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from typing import Any

from montemap.engine.inventory_rows import Files, InventoryRows, file_pieces
from montemap.engine.reader_config import ReaderSource, check_csv_headers, reader_failure
from montemap.engine.reader_streams import failure_for, open_object, text_stream
from montemap.engine.row_maker import row_maker
from montemap.errors import StatesError
from montemap.storage.base import ObjectStore, ObjectStoreError

__all__ = ["csv_items", "manifest_items"]

#: A manifest.json is read whole; refuse anything absurdly large.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def csv_items(store: ObjectStore, source: ReaderSource) -> Iterator[dict[str, str]]:
    wrap = failure_for(source.where)
    with open_object(store, source.bucket, source.key) as raw, text_stream(raw, newline="") as text:
        rows = csv.reader(text, delimiter=source.delimiter, strict=True)
        try:
            headers = source.headers
            make = None if headers is None else row_maker(headers)
            for row in rows:
                if not row:
                    continue  # blank line
                if headers is None or make is None:
                    headers = tuple(row)
                    check_csv_headers(headers, source.delimiter)
                    make = row_maker(headers)
                    continue
                if len(row) != len(headers):
                    raise reader_failure(
                        f"{source.where} line {rows.line_num} has {len(row)} field(s); "
                        f"the CSV header has {len(headers)}"
                    )
                yield make(row)
        except StatesError:
            raise
        except csv.Error as exc:
            raise reader_failure(f"{source.where} line {rows.line_num} is not valid CSV: {exc}")
        except (OSError, UnicodeDecodeError, ObjectStoreError) as exc:
            raise wrap(exc)


# S3 Inventory manifests ---------------------------------------------------------


def manifest_items(store: ObjectStore, source: ReaderSource) -> InventoryRows:
    """Rows of the CSV files (gzip or plain) an S3 Inventory manifest lists, keyed by its
    fileSchema, at most ``source.max_items`` of them (0: no limit).

    The manifest is read at the first row asked for. The rows come one by one or, for an
    ItemBatcher, a chunk at a time (:meth:`InventoryRows.take`).
    """

    def open_files() -> Files:
        data_bucket, schema, keys = _read_manifest(store, source)
        files = (file_pieces(store, data_bucket, key, schema) for key in keys)
        return schema, files

    return InventoryRows(open_files, source.max_items or None)


def _read_manifest(
    store: ObjectStore, source: ReaderSource
) -> tuple[str, tuple[str, ...], list[str]]:
    where = source.where
    with open_object(store, source.bucket, source.key) as raw:
        try:
            data = raw.read(MAX_MANIFEST_BYTES + 1)
        except (OSError, ObjectStoreError) as exc:
            raise failure_for(where)(exc)
    if len(data) > MAX_MANIFEST_BYTES:
        raise reader_failure(
            f"{where} is larger than {MAX_MANIFEST_BYTES} bytes; not an inventory manifest"
        )
    try:
        manifest = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise reader_failure(f"{where} is not a valid S3 Inventory manifest (JSON): {exc}")
    if not isinstance(manifest, dict):
        raise reader_failure(
            f"{where} is not a valid S3 Inventory manifest: expected a JSON object"
        )
    file_format = manifest.get("fileFormat")
    if not isinstance(file_format, str) or file_format.upper() != "CSV":
        raise reader_failure(
            f"{where}: inventory fileFormat {file_format!r} is not supported; "
            "Step Functions reads CSV inventories only"
        )
    schema_text = manifest.get("fileSchema")
    if not isinstance(schema_text, str) or not schema_text.strip():
        raise reader_failure(f"{where}: the manifest has no fileSchema string")
    schema = tuple(part.strip() for part in schema_text.split(","))
    if any(not name for name in schema) or len(set(schema)) < len(schema):
        raise reader_failure(
            f"{where}: fileSchema {schema_text!r} has empty or duplicate column names"
        )
    files = manifest.get("files")
    if not isinstance(files, list):
        raise reader_failure(f"{where}: the manifest has no 'files' array")
    keys: list[str] = []
    for i, entry in enumerate(files):
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key:
            raise reader_failure(f"{where}: files[{i}] has no 'key' string")
        keys.append(key)
    return _destination_bucket(manifest, source.bucket, where), schema, keys


def _destination_bucket(manifest: Mapping[str, Any], default: str, where: str) -> str:
    """The bucket holding the inventory files: the manifest's destinationBucket ARN."""
    arn = manifest.get("destinationBucket")
    if arn is None:
        return default
    if not isinstance(arn, str) or not arn.startswith("arn:") or ":::" not in arn:
        raise reader_failure(f"{where}: destinationBucket {arn!r} is not an S3 bucket ARN")
    bucket = arn.rsplit(":::", 1)[1]
    if not bucket:
        raise reader_failure(f"{where}: destinationBucket {arn!r} names no bucket")
    return bucket
