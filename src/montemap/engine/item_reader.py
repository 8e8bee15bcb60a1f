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
  ``StorageClass``), page by page.

Every failure (a missing bucket or key, unreadable or malformed data, a bad
configuration value) raises ``StatesError("States.ItemReaderFailed", cause)``
whose cause names the object and, for text formats, the line.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import gzip
import io
import itertools
import json
import math
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn, cast

from montemap.errors import ITEM_READER_FAILED, StatesError
from montemap.jsontypes import json_type_name
from montemap.storage.base import ObjectStore, ObjectStoreError

__all__ = ["MAX_ITEMS_LIMIT", "read_items"]

#: The largest MaxItems AWS accepts.
MAX_ITEMS_LIMIT = 100_000_000
#: AWS: "Step Functions supports CSV headers of up to 10 KiB."
MAX_CSV_HEADER_BYTES = 10 * 1024
#: A manifest.json is read whole; refuse anything absurdly large.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: The first two bytes of every gzip stream.
_GZIP_MAGIC = b"\x1f\x8b"

_RESOURCE_RE = re.compile(r"^arn:aws[a-z-]*:states:::s3:(?P<action>getObject|listObjectsV2)$")
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}
_INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET")
_READER_CONFIG_KEYS = frozenset(
    {
        "InputType",
        "CSVHeaderLocation",
        "CSVHeaders",
        "CSVDelimiter",
        "ManifestType",
        "MaxItems",
        "MaxItemsPath",
    }
)
_CHUNK = 64 * 1024


def _fail(cause: str) -> StatesError:
    return StatesError(ITEM_READER_FAILED, cause)


@dataclass(frozen=True)
class _Source:
    """A validated ItemReader."""

    action: str  # getObject | listObjectsV2
    bucket: str
    key: str  # the object (getObject) or the prefix (listObjectsV2)
    input_type: str | None
    header_location: str
    headers: tuple[str, ...] | None
    delimiter: str
    max_items: int | None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def read_items(
    store: ObjectStore, reader: Mapping[str, Any], *, max_items: int | None = None
) -> Iterator[Any]:
    """The items of a resolved ``ItemReader``, streamed; at most ``max_items`` of them.

    ``max_items`` (the resolved ``MaxItems``/``MaxItemsPath``) overrides
    ``ReaderConfig.MaxItems``; 0 or ``None`` means no limit. The configuration
    is checked here, before the first item is read.
    """
    source = _parse(reader, max_items)
    if source.action == "listObjectsV2":
        items = _listed_objects(store, source)
    else:
        parse = _PARSERS[source.input_type or ""]
        items = parse(store, source)
    if source.max_items:
        items = itertools.islice(items, source.max_items)
    return items


# ----------------------------------------------------------------------------- config


def _parse(reader: Mapping[str, Any], max_items: int | None) -> _Source:
    if not isinstance(reader, Mapping):
        raise _fail(f"ItemReader must be an object, got {_kind(reader)}")
    resource = reader.get("Resource")
    match = _RESOURCE_RE.match(resource) if isinstance(resource, str) else None
    if match is None:
        raise _fail(
            f"ItemReader Resource {resource!r} is not supported; use "
            "arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2"
        )
    action = match["action"]
    params = reader.get("Parameters", reader.get("Arguments"))
    if not isinstance(params, Mapping):
        raise _fail(f"ItemReader Parameters must be an object, got {_kind(params)}")
    config = reader.get("ReaderConfig", {})
    if not isinstance(config, Mapping):
        raise _fail(f"ItemReader ReaderConfig must be an object, got {_kind(config)}")
    unknown = sorted(set(config) - _READER_CONFIG_KEYS)
    if unknown:
        raise _fail(f"ItemReader ReaderConfig has unsupported field(s): {', '.join(unknown)}")

    bucket = params.get("Bucket")
    if not isinstance(bucket, str) or not bucket:
        raise _fail(f"ItemReader Parameters.Bucket must be a non-empty string, got {bucket!r}")
    if action == "getObject":
        _only(params, {"Bucket", "Key"})
        key = params.get("Key")
        if not isinstance(key, str) or not key:
            raise _fail(f"ItemReader Parameters.Key must be a non-empty string, got {key!r}")
    else:
        _only(params, {"Bucket", "Prefix"})
        key = params.get("Prefix", "")
        if not isinstance(key, str):
            raise _fail(f"ItemReader Parameters.Prefix must be a string, got {key!r}")

    input_type = config.get("InputType")
    if action == "getObject":
        if input_type not in _INPUT_TYPES:
            raise _fail(
                f"ItemReader ReaderConfig.InputType must be one of {', '.join(_INPUT_TYPES)} "
                f"for s3:getObject, got {input_type!r}"
            )
    elif input_type is not None:
        raise _fail("ItemReader ReaderConfig.InputType is not used with s3:listObjectsV2")
    manifest_type = config.get("ManifestType", "S3_INVENTORY")
    if manifest_type != "S3_INVENTORY":
        raise _fail(f"ItemReader ReaderConfig.ManifestType {manifest_type!r} is not supported")

    location = config.get("CSVHeaderLocation", "FIRST_ROW")
    if location not in ("FIRST_ROW", "GIVEN"):
        raise _fail(
            f"ItemReader ReaderConfig.CSVHeaderLocation must be FIRST_ROW or GIVEN, got {location!r}"
        )
    headers: tuple[str, ...] | None = None
    if location == "GIVEN" and input_type == "CSV":
        given = config.get("CSVHeaders")
        if not isinstance(given, list) or not given or not all(isinstance(h, str) for h in given):
            raise _fail(
                "ItemReader ReaderConfig.CSVHeaders must be a non-empty array of strings "
                "when CSVHeaderLocation is GIVEN"
            )
        headers = tuple(given)
        _check_headers(headers, ",")
    delimiter_name = config.get("CSVDelimiter", "COMMA")
    if delimiter_name not in _DELIMITERS:
        raise _fail(
            f"ItemReader ReaderConfig.CSVDelimiter must be one of {', '.join(_DELIMITERS)}, "
            f"got {delimiter_name!r}"
        )
    limit = max_items if max_items is not None else config.get("MaxItems")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_ITEMS_LIMIT
    ):
        raise _fail(f"field MaxItems must be an integer from 0 to {MAX_ITEMS_LIMIT}, got {limit!r}")
    return _Source(
        action=action,
        bucket=bucket,
        key=key,
        input_type=input_type,
        header_location=location,
        headers=headers,
        delimiter=_DELIMITERS[delimiter_name],
        max_items=limit or None,
    )


def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise _fail(
            f"ItemReader Parameters has unsupported field(s): {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


_kind = json_type_name

# ----------------------------------------------------------------------------- opening


def _open(store: ObjectStore, bucket: str, key: str) -> BinaryIO:
    try:
        return store.open(bucket, key)
    except ObjectStoreError as exc:
        raise _fail(f"Failed to read s3://{bucket}/{key}: {exc.code}: {exc}")


def _text(stream: BinaryIO | gzip.GzipFile, *, newline: str | None = None) -> io.TextIOWrapper:
    # utf-8-sig: tolerate a byte order mark, as spreadsheet exports carry one.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline=newline)


def _guard(where: str) -> Callable[[Exception], StatesError]:
    """The cause for an unexpected failure while reading ``where``."""

    def wrap(exc: Exception) -> StatesError:
        if isinstance(exc, UnicodeDecodeError):
            return _fail(f"{where} is not valid UTF-8 text (byte offset {exc.start} of a chunk)")
        if isinstance(exc, ObjectStoreError):
            return _fail(f"Failed to read {where}: {exc.code}: {exc}")
        return _fail(f"Failed to read {where}: {exc}")

    return wrap


# ----------------------------------------------------------------------------- JSON


def _json_items(store: ObjectStore, source: _Source) -> Iterator[Any]:
    wrap = _guard(source.where)
    with _open(store, source.bucket, source.key) as raw, _text(raw) as text:
        try:
            yield from _JsonArrayStream(text, source.where).items()
        except StatesError:
            raise
        except (OSError, UnicodeDecodeError, ObjectStoreError) as exc:
            raise wrap(exc)


class _JsonArrayStream:
    """Decodes the elements of one top-level JSON array from a text stream, one at a time.

    Only the element being decoded (and one read-ahead chunk) is in memory;
    positions are tracked so errors name the line and column.
    """

    def __init__(self, text: io.TextIOBase, where: str) -> None:
        self._text = text
        self._where = where
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # line of self._buf[0]
        self._col = 1  # column of self._buf[0]

    def items(self) -> Iterator[Any]:
        c = self._next_char()
        if c is None:
            raise _fail(f"{self._where} is empty; expected a JSON array")
        if c != "[":
            value = self._value()  # valid JSON that is not an array, or an error
            del value
            raise _fail("Attempting to map over non-iterable node.")
        self._pos += 1
        c = self._next_char()
        if c == "]":
            self._pos += 1
        else:
            while True:
                yield self._value()
                c = self._next_char()
                if c == ",":
                    self._pos += 1
                    continue
                if c == "]":
                    self._pos += 1
                    break
                self._error("expected ',' or ']' after an array element")
        if self._next_char() is not None:
            self._error("unexpected data after the top-level array")

    def _value(self) -> Any:
        if self._next_char() is None:
            self._error("unexpected end of data; expected a value")
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                offset = exc.pos - self._pos  # _fill() drops the consumed text
                if self._fill():
                    continue
                self._error(exc.msg, self._pos + offset)
            # A number (or literal) that ends the buffer may continue in the next chunk.
            if end == len(self._buf) and self._fill():
                continue
            self._pos = end
            return value

    def _next_char(self) -> str | None:
        """The next non-whitespace character (not consumed), or None at the end."""
        while True:
            buf, pos = self._buf, self._pos
            n = len(buf)
            while pos < n and buf[pos] in " \t\r\n":
                pos += 1
            self._pos = pos
            if pos < n:
                return buf[pos]
            if not self._fill():
                return None

    def _fill(self) -> bool:
        """Read more text, dropping what is consumed; False at the end of the stream."""
        if self._eof:
            return False
        if self._pos:
            consumed = self._buf[: self._pos]
            newlines = consumed.count("\n")
            if newlines:
                self._line += newlines
                self._col = len(consumed) - consumed.rfind("\n")
            else:
                self._col += len(consumed)
            self._buf = self._buf[self._pos :]
            self._pos = 0
        chunk = self._text.read(max(_CHUNK, len(self._buf)))
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _error(self, message: str, pos: int | None = None) -> NoReturn:
        at = self._pos if pos is None else pos
        before = self._buf[:at]
        newlines = before.count("\n")
        line = self._line + newlines
        col = at - before.rfind("\n") if newlines else self._col + at
        raise _fail(
            f"{self._where} is not a valid JSON array: {message} at line {line} column {col}"
        )


# ----------------------------------------------------------------------------- JSONL


def _jsonl_items(store: ObjectStore, source: _Source) -> Iterator[Any]:
    wrap = _guard(source.where)
    decode = json.JSONDecoder().decode
    with _open(store, source.bucket, source.key) as raw, _text(raw) as text:
        try:
            for number, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    yield decode(line)
                except json.JSONDecodeError as exc:
                    raise _fail(
                        f"{source.where} line {number} is not valid JSON: {exc.msg} "
                        f"(column {exc.colno})"
                    )
        except StatesError:
            raise
        except (OSError, UnicodeDecodeError, ObjectStoreError) as exc:
            raise wrap(exc)


# ----------------------------------------------------------------------------- CSV


def _check_headers(headers: tuple[str, ...], delimiter: str) -> None:
    if len(set(headers)) < len(headers):
        raise _fail("CSV headers cannot contain duplicates.")
    size = len(delimiter.join(headers).encode("utf-8"))
    if size > MAX_CSV_HEADER_BYTES:
        raise _fail(f"CSV headers are {size} bytes; Step Functions supports up to 10 KiB")


def _csv_items(store: ObjectStore, source: _Source) -> Iterator[dict[str, str]]:
    wrap = _guard(source.where)
    with _open(store, source.bucket, source.key) as raw, _text(raw, newline="") as text:
        rows = csv.reader(text, delimiter=source.delimiter, strict=True)
        try:
            headers = source.headers
            for row in rows:
                if not row:
                    continue  # blank line
                if headers is None:
                    headers = tuple(row)
                    _check_headers(headers, source.delimiter)
                    continue
                if len(row) != len(headers):
                    raise _fail(
                        f"{source.where} line {rows.line_num} has {len(row)} field(s); "
                        f"the CSV header has {len(headers)}"
                    )
                yield dict(zip(headers, row, strict=True))
        except StatesError:
            raise
        except csv.Error as exc:
            raise _fail(f"{source.where} line {rows.line_num} is not valid CSV: {exc}")
        except (OSError, UnicodeDecodeError, ObjectStoreError) as exc:
            raise wrap(exc)


# ----------------------------------------------------------------------------- MANIFEST


def _manifest_items(store: ObjectStore, source: _Source) -> Iterator[dict[str, str]]:
    """Rows of the CSV files (gzip or plain) an S3 Inventory manifest lists, keyed by its fileSchema."""
    data_bucket, schema, keys = _read_manifest(store, source)
    for key in keys:
        yield from _inventory_rows(store, data_bucket, key, schema)


def _read_manifest(store: ObjectStore, source: _Source) -> tuple[str, tuple[str, ...], list[str]]:
    where = source.where
    with _open(store, source.bucket, source.key) as raw:
        try:
            data = raw.read(MAX_MANIFEST_BYTES + 1)
        except (OSError, ObjectStoreError) as exc:
            raise _guard(where)(exc)
    if len(data) > MAX_MANIFEST_BYTES:
        raise _fail(f"{where} is larger than {MAX_MANIFEST_BYTES} bytes; not an inventory manifest")
    try:
        manifest = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"{where} is not a valid S3 Inventory manifest (JSON): {exc}")
    if not isinstance(manifest, dict):
        raise _fail(f"{where} is not a valid S3 Inventory manifest: expected a JSON object")
    file_format = manifest.get("fileFormat")
    if not isinstance(file_format, str) or file_format.upper() != "CSV":
        raise _fail(
            f"{where}: inventory fileFormat {file_format!r} is not supported; "
            "Step Functions reads CSV inventories only"
        )
    schema_text = manifest.get("fileSchema")
    if not isinstance(schema_text, str) or not schema_text.strip():
        raise _fail(f"{where}: the manifest has no fileSchema string")
    schema = tuple(part.strip() for part in schema_text.split(","))
    if any(not name for name in schema) or len(set(schema)) < len(schema):
        raise _fail(f"{where}: fileSchema {schema_text!r} has empty or duplicate column names")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise _fail(f"{where}: the manifest has no 'files' array")
    keys: list[str] = []
    for i, entry in enumerate(files):
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key:
            raise _fail(f"{where}: files[{i}] has no 'key' string")
        keys.append(key)
    return _destination_bucket(manifest, source.bucket, where), schema, keys


def _destination_bucket(manifest: Mapping[str, Any], default: str, where: str) -> str:
    """The bucket holding the inventory files: the manifest's destinationBucket ARN."""
    arn = manifest.get("destinationBucket")
    if arn is None:
        return default
    if not isinstance(arn, str) or not arn.startswith("arn:") or ":::" not in arn:
        raise _fail(f"{where}: destinationBucket {arn!r} is not an S3 bucket ARN")
    bucket = arn.rsplit(":::", 1)[1]
    if not bucket:
        raise _fail(f"{where}: destinationBucket {arn!r} names no bucket")
    return bucket


def _maybe_gunzip(raw: BinaryIO) -> BinaryIO | gzip.GzipFile:
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


def _inventory_rows(
    store: ObjectStore, bucket: str, key: str, schema: tuple[str, ...]
) -> Iterator[dict[str, str]]:
    where = f"s3://{bucket}/{key}"
    wrap = _guard(where)
    with (
        _open(store, bucket, key) as raw,
        _maybe_gunzip(raw) as unzipped,
        _text(unzipped, newline="") as text,
    ):
        rows = csv.reader(text, strict=True)
        try:
            for row in rows:
                if not row:
                    continue
                if len(row) != len(schema):
                    raise _fail(
                        f"{where} line {rows.line_num} has {len(row)} field(s); "
                        f"the manifest's fileSchema has {len(schema)}"
                    )
                yield dict(zip(schema, row, strict=True))
        except StatesError:
            raise
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _fail(f"{where} is not a valid gzip file: {exc}")
        except csv.Error as exc:
            raise _fail(f"{where} line {rows.line_num} is not valid CSV: {exc}")
        except (OSError, UnicodeDecodeError, ObjectStoreError) as exc:
            raise wrap(exc)


# ----------------------------------------------------------------------------- PARQUET


def _parquet_items(store: ObjectStore, source: _Source) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = source.where
    with _open(store, source.bucket, source.key) as raw, _seekable(raw, where) as f:
        try:
            parquet = pq.ParquetFile(f)
            for batch in parquet.iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    yield {name: _jsonable(value) for name, value in row.items()}
        except (pa.ArrowException, OSError) as exc:
            raise _fail(f"{where} is not a readable Parquet file: {exc}")


def _seekable(raw: BinaryIO, where: str) -> BinaryIO:
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
        raise _guard(where)(exc)
    return copy


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


# ----------------------------------------------------------------------------- listing


def _listed_objects(store: ObjectStore, source: _Source) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        try:
            page = store.list_page(source.bucket, source.key, token=token)
        except ObjectStoreError as exc:
            raise _fail(f"Failed to list {source.where}: {exc.code}: {exc}")
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


_PARSERS: dict[str, Callable[[ObjectStore, _Source], Iterator[Any]]] = {
    "JSON": _json_items,
    "JSONL": _jsonl_items,
    "CSV": _csv_items,
    "MANIFEST": _manifest_items,
    "PARQUET": _parquet_items,
}
