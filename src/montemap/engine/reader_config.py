"""The ItemReader's configuration: a resolved ``ItemReader`` checked into a :class:`ReaderSource`.

Every configuration problem (an unsupported resource, a missing bucket or
key, a bad ``ReaderConfig`` value, a ``MaxItems`` out of range) raises
``StatesError("States.ItemReaderFailed", cause)`` before the first item is
read; :func:`reader_failure` builds that error for every reader module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from montemap.errors import ITEM_READER_FAILED, StatesError
from montemap.jsontypes import json_type_name

__all__ = [
    "MAX_CSV_HEADER_BYTES",
    "MAX_ITEMS_LIMIT",
    "ReaderSource",
    "check_csv_headers",
    "parse_reader",
    "reader_failure",
]

#: The largest MaxItems AWS accepts.
MAX_ITEMS_LIMIT = 100_000_000
#: AWS: "Step Functions supports CSV headers of up to 10 KiB."
MAX_CSV_HEADER_BYTES = 10 * 1024

_RESOURCE_RE = re.compile(r"^arn:aws[a-z-]*:states:::s3:(?P<action>getObject|listObjectsV2)$")
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}
_INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET")
_FLATTENED_TYPES = ("CSV", "JSON", "JSONL", "PARQUET")
_READER_CONFIG_KEYS = frozenset(
    {
        "InputType",
        "CSVHeaderLocation",
        "CSVHeaders",
        "CSVDelimiter",
        "ItemsPointer",
        "ManifestType",
        "MaxItems",
        "MaxItemsPath",
        "Transformation",
    }
)
#: ReaderConfig.Transformation: a listing's items are the objects (NONE) or, with an
#: InputType, the items read from every listed object in turn (LOAD_AND_FLATTEN).
LOAD_AND_FLATTEN = "LOAD_AND_FLATTEN"
_kind = json_type_name


def reader_failure(cause: str) -> StatesError:
    """The ``States.ItemReaderFailed`` error with ``cause``."""
    return StatesError(ITEM_READER_FAILED, cause)


@dataclass(frozen=True)
class ReaderSource:
    """A validated ItemReader."""

    action: str  # getObject | listObjectsV2
    bucket: str
    key: str  # the object (getObject) or the prefix (listObjectsV2)
    input_type: str | None
    header_location: str
    headers: tuple[str, ...] | None
    delimiter: str
    max_items: int | None
    transformation: str = "NONE"
    #: ``ReaderConfig.ItemsPointer`` (JSON only): the JSON Pointer (RFC 6901) to the
    #: array to iterate over inside the object's JSON document; None for the top level.
    items_pointer: str | None = None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_reader(reader: Mapping[str, Any], max_items: int | None) -> ReaderSource:
    """Check a resolved ``ItemReader``; ``max_items`` overrides ``ReaderConfig.MaxItems``."""
    if not isinstance(reader, Mapping):
        raise reader_failure(f"ItemReader must be an object, got {_kind(reader)}")
    action = _action(reader.get("Resource"))
    params = reader.get("Parameters", reader.get("Arguments"))
    if not isinstance(params, Mapping):
        raise reader_failure(f"ItemReader Parameters must be an object, got {_kind(params)}")
    config = reader.get("ReaderConfig", {})
    if not isinstance(config, Mapping):
        raise reader_failure(f"ItemReader ReaderConfig must be an object, got {_kind(config)}")
    unknown = sorted(set(config) - _READER_CONFIG_KEYS)
    if unknown:
        raise reader_failure(
            f"ItemReader ReaderConfig has unsupported field(s): {', '.join(unknown)}"
        )
    bucket, key = _object_location(action, params)
    transformation = _transformation(action, config)
    input_type = _input_type(action, config, transformation)
    location, headers = _csv_headers(config, input_type)
    return ReaderSource(
        action=action,
        bucket=bucket,
        key=key,
        input_type=input_type,
        header_location=location,
        headers=headers,
        delimiter=_DELIMITERS[_delimiter_name(config)],
        max_items=_max_items(config, max_items) or None,
        transformation=transformation,
        items_pointer=_items_pointer(config, input_type),
    )


def _action(resource: Any) -> str:
    """``getObject`` or ``listObjectsV2``, from the reader's ``Resource``."""
    match = _RESOURCE_RE.match(resource) if isinstance(resource, str) else None
    if match is None:
        raise reader_failure(
            f"ItemReader Resource {resource!r} is not supported; use "
            "arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2"
        )
    return match["action"]


def _object_location(action: str, params: Mapping[str, Any]) -> tuple[str, str]:
    """The bucket, and the object key (getObject) or the prefix (listObjectsV2)."""
    bucket = params.get("Bucket")
    if not isinstance(bucket, str) or not bucket:
        raise reader_failure(
            f"ItemReader Parameters.Bucket must be a non-empty string, got {bucket!r}"
        )
    if action == "getObject":
        _only(params, {"Bucket", "Key", "VersionId"})
        key = params.get("Key")
        if not isinstance(key, str) or not key:
            raise reader_failure(
                f"ItemReader Parameters.Key must be a non-empty string, got {key!r}"
            )
        version = params.get("VersionId", "null")
        if version != "null":  # objects here have only S3's "null" version
            raise reader_failure(
                f"Failed to read s3://{bucket}/{key}: InvalidArgument: Invalid version id "
                f"specified in Parameters.VersionId: {version!r} (objects here have only "
                "the 'null' version)"
            )
    else:
        _only(params, {"Bucket", "Prefix"})
        key = params.get("Prefix", "")
        if not isinstance(key, str):
            raise reader_failure(f"ItemReader Parameters.Prefix must be a string, got {key!r}")
    return bucket, key


def _transformation(action: str, config: Mapping[str, Any]) -> str:
    """``ReaderConfig.Transformation``: NONE, or LOAD_AND_FLATTEN with s3:listObjectsV2."""
    transformation = config.get("Transformation", "NONE")
    if transformation not in ("NONE", LOAD_AND_FLATTEN):
        raise reader_failure(
            f"ItemReader ReaderConfig.Transformation must be NONE or {LOAD_AND_FLATTEN}, "
            f"got {transformation!r}"
        )
    if transformation == LOAD_AND_FLATTEN and action != "listObjectsV2":
        raise reader_failure(
            f"ItemReader ReaderConfig.Transformation {LOAD_AND_FLATTEN} needs s3:listObjectsV2"
        )
    return str(transformation)


def _input_type(action: str, config: Mapping[str, Any], transformation: str) -> Any:
    """``ReaderConfig.InputType`` (None for a listing of objects), ``ManifestType`` checked."""
    input_type = config.get("InputType")
    if action == "getObject" or transformation == LOAD_AND_FLATTEN:
        allowed = _INPUT_TYPES if action == "getObject" else _FLATTENED_TYPES
        if input_type not in allowed:
            raise reader_failure(
                f"ItemReader ReaderConfig.InputType must be one of {', '.join(allowed)} "
                f"for s3:{action} (Transformation {transformation}), got {input_type!r}"
            )
    elif input_type is not None:
        raise reader_failure(
            "ItemReader ReaderConfig.InputType is not used with s3:listObjectsV2 "
            f"unless Transformation is {LOAD_AND_FLATTEN}"
        )
    manifest_type = config.get("ManifestType", "S3_INVENTORY")
    if manifest_type != "S3_INVENTORY":
        raise reader_failure(
            f"ItemReader ReaderConfig.ManifestType {manifest_type!r} is not supported"
        )
    return input_type


def _csv_headers(config: Mapping[str, Any], input_type: Any) -> tuple[Any, tuple[str, ...] | None]:
    """``CSVHeaderLocation``, and the given headers when they are given for a CSV."""
    location = config.get("CSVHeaderLocation", "FIRST_ROW")
    if location not in ("FIRST_ROW", "GIVEN"):
        raise reader_failure(
            f"ItemReader ReaderConfig.CSVHeaderLocation must be FIRST_ROW or GIVEN, got {location!r}"
        )
    headers: tuple[str, ...] | None = None
    if location == "GIVEN" and input_type == "CSV":
        given = config.get("CSVHeaders")
        if not isinstance(given, list) or not given or not all(isinstance(h, str) for h in given):
            raise reader_failure(
                "ItemReader ReaderConfig.CSVHeaders must be a non-empty array of strings "
                "when CSVHeaderLocation is GIVEN"
            )
        headers = tuple(given)
        check_csv_headers(headers, ",")
    return location, headers


def _delimiter_name(config: Mapping[str, Any]) -> str:
    delimiter_name = config.get("CSVDelimiter", "COMMA")
    if delimiter_name not in _DELIMITERS:
        raise reader_failure(
            f"ItemReader ReaderConfig.CSVDelimiter must be one of {', '.join(_DELIMITERS)}, "
            f"got {delimiter_name!r}"
        )
    return str(delimiter_name)


def _items_pointer(config: Mapping[str, Any], input_type: Any) -> str | None:
    """``ReaderConfig.ItemsPointer``: a JSON Pointer ("" or starting with "/"), for a
    ``JSON`` input only."""
    if "ItemsPointer" not in config:
        return None
    pointer = config["ItemsPointer"]
    if input_type != "JSON":
        raise reader_failure(
            f"ItemReader ReaderConfig.ItemsPointer is only used with InputType JSON, "
            f"not {input_type!r}"
        )
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise reader_failure(
            "ItemReader ReaderConfig.ItemsPointer must be a JSON Pointer: a string that is "
            f"empty or starts with '/', got {pointer!r}"
        )
    return pointer


def _max_items(config: Mapping[str, Any], max_items: int | None) -> Any:
    limit = max_items if max_items is not None else config.get("MaxItems")
    if isinstance(limit, float) and limit.is_integer() and 0 <= limit <= MAX_ITEMS_LIMIT:
        limit = int(limit)  # 2.0 is 2, as at create time
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_ITEMS_LIMIT
    ):
        raise reader_failure(
            f"field MaxItems must be an integer from 0 to {MAX_ITEMS_LIMIT}, got {limit!r}"
        )
    return limit


def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise reader_failure(
            f"ItemReader Parameters has unsupported field(s): {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def check_csv_headers(headers: tuple[str, ...], delimiter: str) -> None:
    """Refuse duplicate CSV headers, and headers over AWS's 10 KiB."""
    if len(set(headers)) < len(headers):
        raise reader_failure("CSV headers cannot contain duplicates.")
    size = len(delimiter.join(headers).encode("utf-8"))
    if size > MAX_CSV_HEADER_BYTES:
        raise reader_failure(f"CSV headers are {size} bytes; Step Functions supports up to 10 KiB")
