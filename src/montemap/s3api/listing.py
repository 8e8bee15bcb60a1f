"""ListObjectsV2 and ListObjects: prefixes, delimiters, markers and pages over the store.

The store lists keys in S3 order after a key; this module groups them into
``CommonPrefixes`` under a delimiter (skipping the rest of a group without
reading it), cuts pages at ``MaxKeys`` and makes continuation tokens (the
last key or prefix returned, base64-encoded: opaque to clients, stateless
here).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from montemap.s3api.errors import S3Error
from montemap.s3api.xmlio import document, el, object_time
from montemap.storage import ObjectInfo, ObjectStore

MAX_KEYS = 1000
#: Sorts after every character a key may hold: skips everything under a prefix.
_PAST = "\U0010ffff"


@dataclass
class Listing:
    """One page: objects and common prefixes in S3 order, and where the next page starts."""

    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""  # the last key or common prefix returned


def list_entries(
    store: ObjectStore, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> Listing:
    """Up to ``max_keys`` keys and common prefixes under ``prefix``, after ``after``."""
    out = Listing()
    if max_keys == 0:
        return out
    cursor: str | None = after or None
    while True:
        page = store.list_page(bucket, prefix, start_after=cursor, max_keys=MAX_KEYS)
        for obj in page.objects:
            group = _group(obj.key, prefix, delimiter)
            if group is not None and (
                group == after or (out.prefixes and out.prefixes[-1] == group)
            ):
                cursor = group + _PAST
                continue
            if len(out.objects) + len(out.prefixes) == max_keys:
                out.truncated = True
                return out
            if group is None:
                out.objects.append(obj)
                out.last = obj.key
                cursor = obj.key
            else:
                out.prefixes.append(group)
                out.last = group
                cursor = group + _PAST
                break  # list again from past the group: its other keys are never read
        else:
            if page.next_token is None:
                return out
            if page.objects:
                cursor = max(cursor or "", page.objects[-1].key)


def _group(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[: at + len(delimiter)]


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


_TOKEN_RE = re.compile(r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$")


def decode_token(token: str) -> str:
    """The key a continuation token of :func:`encode_token` names; else ``InvalidArgument``."""
    try:
        if not _TOKEN_RE.match(token):
            raise ValueError(token)
        key = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
        if not key:
            raise ValueError(token)
        return key
    except (binascii.Error, UnicodeError, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect")


def parse_max_keys(value: str | None) -> int:
    if value is None:
        return MAX_KEYS
    if not value.isdigit():
        raise S3Error(
            "InvalidArgument",
            f"Provided max-keys not an integer or within integer range: {value!r}",
        )
    return min(int(value), MAX_KEYS)


def encoder(query: dict[str, str]) -> Callable[[str], str]:
    """How names are written: as they are, or URL-encoded for ``encoding-type=url``."""
    encoding = query.get("encoding-type")
    if encoding is None:
        return lambda name: name
    if encoding != "url":
        raise S3Error(
            "InvalidArgument", f"Invalid Encoding Method specified in Request: {encoding!r}"
        )
    return lambda name: quote(name, safe="/")


def _contents(listing: Listing, name: Callable[[str], str], owner: bool) -> str:
    parts = []
    for obj in listing.objects:
        parts.append(
            "<Contents>"
            + el("Key", name(obj.key))
            + el("LastModified", object_time(obj.last_modified))
            + el("ETag", f'"{obj.etag}"')
            + el("Size", obj.size)
            + el("StorageClass", obj.storage_class)
            + (_OWNER if owner else "")
            + "</Contents>"
        )
    for group in listing.prefixes:
        parts.append("<CommonPrefixes>" + el("Prefix", name(group)) + "</CommonPrefixes>")
    return "".join(parts)


_OWNER = "<Owner><ID>montemap</ID><DisplayName>montemap</DisplayName></Owner>"


def list_v2(store: ObjectStore, bucket: str, query: dict[str, str]) -> str:
    """The ``ListBucketResult`` document of a ListObjectsV2 request."""
    name = encoder(query)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = parse_max_keys(query.get("max-keys"))
    token = query.get("continuation-token")
    start_after = query.get("start-after", "")
    after = decode_token(token) if token else start_after
    listing = list_entries(store, bucket, prefix, delimiter, after, max_keys)
    fields = [
        el("Name", bucket),
        el("Prefix", name(prefix)),
        el("KeyCount", len(listing.objects) + len(listing.prefixes)),
        el("MaxKeys", max_keys),
        el("IsTruncated", listing.truncated),
    ]
    if delimiter:
        fields.append(el("Delimiter", name(delimiter)))
    if token:
        fields.append(el("ContinuationToken", token))
    if start_after:
        fields.append(el("StartAfter", name(start_after)))
    if listing.truncated:
        fields.append(el("NextContinuationToken", encode_token(listing.last)))
    if "encoding-type" in query:
        fields.append(el("EncodingType", "url"))
    owner = query.get("fetch-owner") == "true"
    return document("ListBucketResult", *fields, _contents(listing, name, owner))


def list_v1(store: ObjectStore, bucket: str, query: dict[str, str]) -> str:
    """The ``ListBucketResult`` document of a ListObjects (version 1) request."""
    name = encoder(query)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = parse_max_keys(query.get("max-keys"))
    marker = query.get("marker", "")
    listing = list_entries(store, bucket, prefix, delimiter, marker, max_keys)
    fields = [
        el("Name", bucket),
        el("Prefix", name(prefix)),
        el("Marker", name(marker)),
        el("MaxKeys", max_keys),
        el("IsTruncated", listing.truncated),
    ]
    if delimiter:
        fields.append(el("Delimiter", name(delimiter)))
        if listing.truncated:
            fields.append(el("NextMarker", name(listing.last)))
    if "encoding-type" in query:
        fields.append(el("EncodingType", "url"))
    return document("ListBucketResult", *fields, _contents(listing, name, True))
